"""``tandem device``: run device agents against a server (the only place agent options are read from argv).

Its options are the fields of :class:`DeviceFleetConfig`.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

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
    """Demo agents exit once they answered this many rounds, or this many closed since they started (0: run
    until --duration)."""
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
    state_dir: str | None = None
    """Keep each agent's identity (device id, token, pinned server key, model held) in this folder; a rerun
    resumes them without enrolling again."""
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

    from tandem.recipes.device.fleet import event_lines, run_fleet
    from tandem.recipes.serve.demo import DemoTask

    try:
        config = build_config(DeviceFleetConfig, overrides)
    except TandemError as exc:
        raise fail(exc) from None
    if not config.enroll_key:
        raise fail(ConfigError("give --enroll-key (or set TANDEM_ENROLL_KEY)"))
    torch.set_num_threads(1)
    event_lines()
    if config.app is not None:
        _serve_app(config)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if config.state_dir is not None:
        try:
            _check_state_dir(config.state_dir)
        except TandemError as exc:
            raise fail(exc) from None
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
        state_dir=config.state_dir,
        stop=stop,
    )
    typer.echo(json.dumps(report.summary(), indent=1))
    if report.errors:
        raise typer.Exit(code=1)


def _check_state_dir(path: str) -> None:
    """A usable state folder (created if missing), or a ConfigError saying why not."""
    import os

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--state-dir {path}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--state-dir {path}: cannot be created ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--state-dir {path}: not writable")


def _serve_app(config: DeviceFleetConfig) -> None:
    """Agents for a user's ClientApp until SIGTERM; the JSON summary on stdout."""
    from tandem.recipes.device.apps import run_app_agents

    assert config.app is not None
    try:
        if config.state_dir is not None:
            _check_state_dir(config.state_dir)
        summary = run_app_agents(
            config.server, config.app, config.clients, enroll_key=config.enroll_key, app_args=config.app_args,
            public_key=config.public_key, duration_s=config.duration, retries=config.retries,
            state_dir=config.state_dir,
        )
    except TandemError as exc:
        raise fail(exc) from None
    typer.echo(json.dumps(summary, indent=1))
    if summary["errors"]:
        raise typer.Exit(code=1)
