"""``tandem device``: run device agents against a server (the only place agent options are read from argv).

Its options are the fields of :class:`DeviceFleetConfig`.
"""

from __future__ import annotations

import json

import typer
from pydantic import Field

from tandem.core.errors import ConfigError, TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail

device_app = typer.Typer(add_completion=False, help="Run device agents against a tandem server.")


class DeviceFleetConfig(RecipeConfig):
    """Everything ``tandem device`` is told: where the server is and what the agents do."""

    server: str = "http://127.0.0.1:8000"
    """Server URL."""
    devices: int = Field(1, ge=1, le=1000)
    """Agents to run in this process."""
    enroll_key: str = Field("", repr=False, json_schema_extra=cli("--enroll-key", envvar="TANDEM_ENROLL_KEY"))
    """Enrollment key (or admin token)."""
    rounds: int = Field(3, ge=0)
    """Federated rounds each agent answers before exiting."""
    model: str = "small"
    """Model id to run."""
    public_key: str | None = None
    """Pinned server signing key (base64)."""
    offset: int = Field(0, ge=0)
    """Agent i holds demo client offset + i."""
    features: int = Field(32, ge=1)
    """Demo task: input features."""
    classes: int = Field(10, ge=2)
    """Demo task: classes."""
    seed: int = 0
    """Demo task seed."""
    uncertainty: float = Field(0.2, ge=0.0, le=1.0)  # tandem.routing.agent.AGENT_UNCERTAINTY (no torch at --help)
    """Ask the cloud when 1 - the small model's top-1 probability is at least this (routing's confidence policy)."""
    duration: float = Field(600.0, ge=1.0)
    """Give up after this many seconds."""
    retries: int = Field(6, ge=0)
    """Retries (with exponential backoff) of a failed request."""
    app: str | None = None
    """Serve your own ClientApp ('package.module:object') instead of the demo task."""
    app_args: dict[str, str] = Field(default_factory=dict)
    """Keyword arguments of the --app function, as JSON (e.g. '{"config": "run.yaml"}')."""
    clients: list[int] = Field(default_factory=list)
    """With --app: the app's client ids this process serves, one agent each (e.g. 0,1,2)."""


@device_app.callback(invoke_without_command=True)
@config_options(DeviceFleetConfig)
def device(overrides: Overrides) -> None:
    """Run N agents: enroll, pull + verify the model, collaborative inference, federated rounds."""
    import torch

    from tandem.recipes.device.fleet import run_fleet
    from tandem.recipes.serve.demo import DemoTask

    try:
        config = build_config(DeviceFleetConfig, overrides)
    except TandemError as exc:
        raise fail(exc) from None
    if not config.enroll_key:
        raise fail(ConfigError("give --enroll-key (or set TANDEM_ENROLL_KEY)"))
    torch.set_num_threads(1)
    if config.app is not None:
        _serve_app(config)
        return
    report = run_fleet(
        config.server,
        config.devices,
        enroll_key=config.enroll_key,
        rounds=config.rounds,
        model_id=config.model,
        offset=config.offset,
        task=DemoTask(config.features, config.classes, config.seed),
        public_key=config.public_key,
        duration_s=config.duration,
        uncertainty=config.uncertainty,
        retries=config.retries,
    )
    summary = {
        "devices": len(report.devices),
        "inferred": report.inferred,
        "requested_cloud": report.requested,
        "correct": report.correct,
        "rounds_answered": sum(len(r) for r in report.rounds.values()),
        "errors": report.errors[:10],
        "wall_s": round(report.wall_s, 2),
    }
    typer.echo(json.dumps(summary, indent=1))
    if report.errors:
        raise typer.Exit(code=1)


def _serve_app(config: DeviceFleetConfig) -> None:
    """Agents for a user's ClientApp until SIGTERM; the JSON summary on stdout."""
    from tandem.recipes.device.apps import run_app_agents

    assert config.app is not None
    try:
        summary = run_app_agents(
            config.server, config.app, config.clients, enroll_key=config.enroll_key, app_args=config.app_args,
            public_key=config.public_key, duration_s=config.duration, retries=config.retries,
        )
    except TandemError as exc:
        raise fail(exc) from None
    typer.echo(json.dumps(summary, indent=1))
    if summary["errors"]:
        raise typer.Exit(code=1)
