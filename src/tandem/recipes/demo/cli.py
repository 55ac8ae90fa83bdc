"""``tandem demo``: one cloud -> device -> cloud loop on the embedded synthetic default.

Every :class:`~tandem.recipes.demo.run.DemoConfig` field is an option (``--users``, ``--rounds``, ...);
the command adds where the result goes and how it is shown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, build_config, config_options, fail
from tandem.recipes.demo.run import DemoConfig


@config_options(DemoConfig)
def demo(
    overrides: Overrides,
    out: Annotated[Path, typer.Option(help="Where to write the result JSON.")] = Path("tandem-results/demo.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON to stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Run one cloud -> device -> cloud loop on the embedded synthetic default; print its table, write JSON + HTML."""
    from tandem.recipes.demo.report import write_demo_report
    from tandem.recipes.demo.run import run_demo
    from tandem.recipes.tables import stage_table
    from tandem.report.results import write_result

    try:
        config = build_config(DemoConfig, overrides)
        result = run_demo(config, progress=progress and not as_json)
        path = write_result(result, out)
        html = write_demo_report(path)
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    out_console = Console() if sys.stdout.isatty() else Console(width=160)
    out_console.print(stage_table(result))
    out_console.print(f"result written to [bold]{path}[/]  (wall clock {result.wall_clock_s:.1f} s)")
    out_console.print(f"report written to [bold]{html}[/]")
