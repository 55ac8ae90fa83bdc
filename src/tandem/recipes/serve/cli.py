"""``tandem serve``: run the cloud server (the only place server options are read from argv/env).

Its options are the fields of :class:`ServeConfig`.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict, Field

from tandem.core.errors import ConfigError, TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail

if TYPE_CHECKING:
    from tandem.server.policy import RoundPolicy

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


class RoundOptions(BaseModel):
    """When the server opens federated rounds by itself, and what each round is (``--round-*`` options)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    every: float | None = Field(None, gt=0, le=7 * 86400)
    """Open a round every this many seconds (counted from the last round's opening; one round at a time)."""
    min_live: int | None = Field(None, ge=1)
    """Open a round once at least this many devices are live (checked in within --lease seconds)."""
    limit: int | None = Field(None, ge=1)
    """Stop opening rounds once the database holds this many rounds."""
    model: str = Field("small", pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    """Model id the rounds train."""
    strategy: str = "fedavg"
    """Aggregation strategy (tandem.federated's names: fedavg, fedprox, scaffold, fedadam, ...)."""
    strategy_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the strategy."""
    objective: dict[str, Any] = Field(default_factory=dict)
    """Local training of each device (LocalObjective fields, e.g. '{"lr": 0.1, "epochs": 2}')."""
    clients: int | None = Field(None, ge=1)
    """Clients per round: the updates a round is after (default: every live device is selected)."""
    over_select: float = Field(1.0, ge=1.0, le=10.0)
    """Select ceil(clients x this) live devices to absorb dropouts (needs --round-clients)."""
    quorum: float | None = Field(None, gt=0.0, le=1.0)
    """Close the round once this fraction of the selected devices answered (default: all of them)."""
    deadline: float = Field(60.0, gt=0, le=7 * 86400)
    """Close the round after this many seconds with the updates that came."""
    min_updates: int = Field(1, ge=0)
    """Fewer updates than this at the close publish no new version."""


def round_policy(options: RoundOptions) -> RoundPolicy | None:
    """The server's round policy from the ``--round-*`` options (``None`` without --round-every/--round-min-live)."""
    from tandem.server.policy import RoundPolicy
    from tandem.server.rounds import RoundSpec

    if options.every is None and options.min_live is None:
        if options != RoundOptions():
            raise ConfigError("--round-* options set what the server's own rounds are: "
                              "give --round-every SECONDS and/or --round-min-live DEVICES to have it open them")
        return None
    spec = RoundSpec(
        model_id=options.model, strategy=options.strategy, strategy_kwargs=dict(options.strategy_kwargs),
        objective=dict(options.objective), clients_per_round=options.clients, deadline_s=options.deadline,
        min_updates=options.min_updates, quorum=options.quorum, over_selection=options.over_select,
    )
    return RoundPolicy(spec, every_s=options.every, min_live=options.min_live or 1, max_rounds=options.limit)


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
    lease: float = Field(30.0, gt=0, le=86400)
    """A device is live (selectable for a round) while it checked in within this many seconds."""
    round: RoundOptions = Field(default_factory=RoundOptions)
    """Rounds the server opens by itself (without --round-every / --round-min-live: on admin calls only)."""
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "warning"
    """uvicorn log level."""
    workers: int = Field(1, ge=1, le=64)
    """Server processes on the port (uvicorn workers); more than 1 needs a PostgreSQL --db."""


@serve_app.callback(invoke_without_command=True)
@config_options(ServeConfig)
def serve(overrides: Overrides) -> None:
    """Run the server: enrollment, signed model delivery, batched inference, federated rounds, /metrics."""
    import torch
    import uvicorn

    from tandem.recipes.serve.demo import DemoTask
    from tandem.recipes.serve.workers import check_workers, run_workers
    from tandem.server.app import create_app

    try:
        config = build_config(ServeConfig, overrides)
        policy = round_policy(config.round)
        check_workers(config.workers, config.db)
    except TandemError as exc:
        raise fail(exc) from None
    torch.set_num_threads(1)  # one process serves many devices; batching, not threads, buys throughput
    token = config.admin_token or secrets.token_urlsafe(24)
    if config.admin_token is None:
        typer.echo(f"admin token (generated; set TANDEM_ADMIN_TOKEN to fix it): {token}", err=True)
    kwargs: dict[str, Any] = {}
    task = DemoTask(config.features, config.classes, config.seed)
    if config.demo:
        kwargs = {"inference_model": task.large_model(), "inference_in_features": config.features}
    try:
        app = create_app(config.db, admin_token=token, enroll_key=config.enroll_key,
                         max_body_bytes=config.max_body_mb << 20, lease_s=config.lease, round_policy=policy, **kwargs)
    except TandemError as exc:
        raise fail(exc) from None
    if config.demo:
        registry = app.state.tandem.registry
        if registry.latest("small") is None:
            registry.register("small", task.small_model().state_dict(), task.small_spec(), {"source": "demo"})
    typer.echo(f"tandem server on http://{config.host}:{config.port}  (db {config.db}; OpenAPI at /docs)", err=True)
    typer.echo(dashboard_hint(config.host, config.port, token, shown=config.admin_token is None), err=True)
    if policy is not None:
        when = " and ".join(
            ([f"every {policy.every_s:g} s"] if policy.every_s is not None else [])
            + [f"with >= {policy.needed_live} live devices"]
        )
        limit = f", {policy.max_rounds} rounds in all" if policy.max_rounds is not None else ""
        typer.echo(f"rounds open by themselves: {when}{limit} (tandem round status shows them)", err=True)
    if config.workers > 1:  # the parent made the signing key and the demo model; the workers share the database
        app.state.tandem.store.close()
        typer.echo(f"{config.workers} worker processes", err=True)
        run_workers(config, token)
        return
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level, access_log=False)
