"""``tandem serve``: run the cloud server (the only place server options are read from argv/env).

Its options are the fields of :class:`ServeConfig`.
"""

from __future__ import annotations

import secrets
from typing import Literal

import typer
from pydantic import Field

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail

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


class ServeConfig(RecipeConfig):
    """Everything ``tandem serve`` is told (secrets may come from the environment)."""

    db: str = "sqlite:///tandem.db"
    """Database URL: sqlite:///tandem.db (WAL) or postgresql+psycopg://..."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = Field(8000, ge=1, le=65535)
    """Port to listen on."""
    admin_token: str | None = Field(None, repr=False, json_schema_extra=cli("--admin-token",
                                                                            envvar="TANDEM_ADMIN_TOKEN"))
    """Admin bearer token (default: generated and printed)."""
    enroll_key: str | None = Field(None, repr=False, json_schema_extra=cli("--enroll-key", envvar="TANDEM_ENROLL_KEY"))
    """Device enrollment key."""
    demo: bool = True
    """Serve the embedded demo task (small model + large model)."""
    features: int = Field(32, ge=1)
    """Demo task: input features."""
    classes: int = Field(10, ge=2)
    """Demo task: classes."""
    seed: int = 0
    """Demo task seed."""
    max_body_mb: int = Field(64, ge=1)
    """Largest request body in MiB."""
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "warning"
    """uvicorn log level."""


@serve_app.callback(invoke_without_command=True)
@config_options(ServeConfig)
def serve(overrides: Overrides) -> None:
    """Run the server: enrollment, signed model delivery, batched inference, federated rounds, /metrics."""
    import torch
    import uvicorn

    from tandem.recipes.serve.demo import DemoTask
    from tandem.server.app import create_app

    try:
        config = build_config(ServeConfig, overrides)
    except TandemError as exc:
        raise fail(exc) from None
    torch.set_num_threads(1)  # one process serves many devices; batching, not threads, buys throughput
    token = config.admin_token or secrets.token_urlsafe(24)
    if config.admin_token is None:
        typer.echo(f"admin token (generated; set TANDEM_ADMIN_TOKEN to fix it): {token}", err=True)
    kwargs = {}
    task = DemoTask(config.features, config.classes, config.seed)
    if config.demo:
        kwargs = {"inference_model": task.large_model(), "inference_in_features": config.features}
    app = create_app(config.db, admin_token=token, enroll_key=config.enroll_key,
                     max_body_bytes=config.max_body_mb << 20, **kwargs)
    if config.demo:
        registry = app.state.tandem.registry
        if registry.latest("small") is None:
            registry.register("small", task.small_model().state_dict(), task.small_spec(), {"source": "demo"})
    typer.echo(f"tandem server on http://{config.host}:{config.port}  (db {config.db}; OpenAPI at /docs)", err=True)
    typer.echo(dashboard_hint(config.host, config.port, token, shown=config.admin_token is None), err=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level, access_log=False)
