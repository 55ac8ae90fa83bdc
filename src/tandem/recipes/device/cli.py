"""``tandem device``: run device agents against a server (the only place agent options are read from argv)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

device_app = typer.Typer(add_completion=False, help="Run device agents against a tandem server.")


@device_app.callback(invoke_without_command=True)
def device(
    server: Annotated[str, typer.Option(help="Server URL.")] = "http://127.0.0.1:8000",
    devices: Annotated[int, typer.Option(min=1, max=1000, help="Agents to run in this process.")] = 1,
    enroll_key: Annotated[str, typer.Option(envvar="TANDEM_ENROLL_KEY", help="Enrollment key (or admin token).")] = "",
    rounds: Annotated[int, typer.Option(min=0, help="Federated rounds each agent answers before exiting.")] = 3,
    model: Annotated[str, typer.Option(help="Model id to run.")] = "small",
    public_key: Annotated[str | None, typer.Option(help="Pinned server signing key (base64).")] = None,
    offset: Annotated[int, typer.Option(min=0, help="Agent i holds demo client offset + i.")] = 0,
    features: Annotated[int, typer.Option(min=1, help="Demo task: input features.")] = 32,
    classes: Annotated[int, typer.Option(min=2, help="Demo task: classes.")] = 10,
    seed: Annotated[int, typer.Option(help="Demo task seed.")] = 0,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Confidence below which to ask the cloud.")] = 0.8,
    duration: Annotated[float, typer.Option(min=1.0, help="Give up after this many seconds.")] = 600.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries (with exponential backoff) of a failed request.")] = 6,
) -> None:
    """Run N agents: enroll, pull + verify the model, collaborative inference, federated rounds."""
    import torch

    from tandem.recipes.device.fleet import run_fleet
    from tandem.recipes.serve.demo import DemoTask

    torch.set_num_threads(1)
    if not enroll_key:
        raise typer.BadParameter("give --enroll-key (or set TANDEM_ENROLL_KEY)")
    report = run_fleet(
        server,
        devices,
        enroll_key=enroll_key,
        rounds=rounds,
        model_id=model,
        offset=offset,
        task=DemoTask(features, classes, seed),
        public_key=public_key,
        duration_s=duration,
        threshold=threshold,
        retries=retries,
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
