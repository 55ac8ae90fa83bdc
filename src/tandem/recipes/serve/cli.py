"""``tandem serve``: run the cloud server (the only place server options are read from argv/env)."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

serve_app = typer.Typer(add_completion=False, help="Run the tandem cloud server.")


def dashboard_hint(host: str, port: int, token: str, *, shown: bool) -> str:
    """Where the live dashboard is and how to hand it the admin token (in the URL fragment, which the
    browser keeps to itself: it never reaches the server or its logs). A token the operator set is not
    echoed back; a generated one was just printed anyway."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}/dashboard"
    if shown:
        return f"live dashboard: {base}#token={token}  (or open {base} and paste the admin token)"
    return (
        f"live dashboard: {base}#token=<admin token>  (the token of --admin-token / TANDEM_ADMIN_TOKEN; "
        f"or open {base} and paste it)"
    )


@serve_app.callback(invoke_without_command=True)
def serve(
    db: Annotated[str, typer.Option(help="Database URL: sqlite:///tandem.db (WAL) or postgresql+psycopg://...")] = (
        "sqlite:///tandem.db"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    admin_token: Annotated[str | None, typer.Option(envvar="TANDEM_ADMIN_TOKEN", help="Admin bearer token.")] = None,
    enroll_key: Annotated[str | None, typer.Option(envvar="TANDEM_ENROLL_KEY", help="Device enrollment key.")] = None,
    demo: Annotated[bool, typer.Option(help="Serve the embedded demo task (small model + large model).")] = True,
    features: Annotated[int, typer.Option(min=1, help="Demo task: input features.")] = 32,
    classes: Annotated[int, typer.Option(min=2, help="Demo task: classes.")] = 10,
    seed: Annotated[int, typer.Option(help="Demo task seed.")] = 0,
    max_body_mb: Annotated[int, typer.Option(min=1, help="Largest request body in MiB.")] = 64,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the server: enrollment, signed model delivery, batched inference, federated rounds, /metrics."""
    import torch
    import uvicorn

    from tandem.recipes.serve.demo import DemoTask
    from tandem.server.app import create_app

    torch.set_num_threads(1)  # one process serves many devices; batching, not threads, buys throughput
    token = admin_token or secrets.token_urlsafe(24)
    if admin_token is None:
        typer.echo(f"admin token (generated; set TANDEM_ADMIN_TOKEN to fix it): {token}", err=True)
    kwargs = {}
    task = DemoTask(features, classes, seed)
    if demo:
        kwargs = {"inference_model": task.large_model(), "inference_in_features": features}
    app = create_app(db, admin_token=token, enroll_key=enroll_key, max_body_bytes=max_body_mb << 20, **kwargs)
    if demo:
        registry = app.state.tandem.registry
        if registry.latest("small") is None:
            registry.register("small", task.small_model().state_dict(), task.small_spec(), {"source": "demo"})
    typer.echo(f"tandem server on http://{host}:{port}  (db {db}; OpenAPI at /docs)", err=True)
    typer.echo(dashboard_hint(host, port, token, shown=admin_token is None), err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
