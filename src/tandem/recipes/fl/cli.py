"""``tandem fl``: run a federated simulation from a YAML config (the only place that reads it).

The config is validated by :class:`FLConfig` (pydantic); any mistake is a :class:`ConfigError` naming
the file and the field. Every field is also an option that overrides the file (nested fields joined by
``-``: ``--rounds 5``, ``--strategy-name fedprox``, ``--strategy-kwargs '{"mu": 0.1}'``, ``--local-lr 0.1``).
Example configs live in ``examples/fl/``::

    tandem fl run examples/fl/fedavg_digits.yaml --rounds 5
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, config_options, fail
from tandem.recipes.fl.build import build_simulation
from tandem.recipes.fl.config import FLConfig, load_config

fl_app = typer.Typer(name="fl", help="Federated learning (device -> cloud) simulations.", no_args_is_help=True)


@fl_app.callback()
def _fl() -> None:
    """Federated learning (device -> cloud) simulations."""


@fl_app.command("run")
@config_options(FLConfig, file_option=False)  # the YAML file is the CONFIG argument
def run(
    overrides: Overrides,
    config: Annotated[Path, typer.Argument(help="YAML config (see examples/fl/); options override its fields.")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON to stdout.")] = False,
) -> None:
    """Run the federated simulation a YAML config describes; per-round metrics go to its output JSON."""
    from rich.console import Console

    try:
        cfg = load_config(config, overrides)
        if cfg.transport == "http":
            from tandem.recipes.fl.deploy import run_over_http

            result = run_over_http(cfg, progress=progress and not as_json)
        else:
            sim = build_simulation(cfg, progress=progress and not as_json)
            try:
                result = sim.run(resume=cfg.resume)
            finally:
                if hasattr(sim.runtime, "shutdown"):
                    sim.runtime.shutdown()
    except TandemError as exc:
        raise fail(exc) from None
    body = {**result.to_dict(), "config_file": str(config), "settings": cfg.model_dump(mode="json")}
    cfg.output.parent.mkdir(parents=True, exist_ok=True)
    cfg.output.write_text(json.dumps(body, indent=1))
    if as_json:
        typer.echo(json.dumps(body, indent=1))
        return
    last = result.history[-1]
    summary = ", ".join(f"{k} {last[k]:.4f}" for k in ("accuracy", "loss", "local_accuracy") if k in last)
    Console().print(
        f"{cfg.strategy.name}: {cfg.rounds} rounds of {cfg.per_round}/{cfg.clients} clients -> {summary}  "
        f"(wall clock {result.wall_clock_s:.2f} s; metrics in [bold]{cfg.output}[/])"
    )
