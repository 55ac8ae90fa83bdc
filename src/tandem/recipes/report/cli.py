"""``tandem report RESULTS... --out report.html``: one self-contained HTML page comparing result files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tandem.core.errors import TandemError

report_app = typer.Typer(
    name="report",
    help="Turn result JSON files into one self-contained HTML report.",
    add_completion=False,
    # a callback-only group: let options follow the file list (`tandem report a.json b.json --out r.html`)
    context_settings={"allow_interspersed_args": True},
)


@report_app.callback(invoke_without_command=True)
def report(
    results: Annotated[
        list[Path],
        typer.Argument(help="Result JSON files (tandem demo, tandem fl run, benchmarks); each is one run."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML report.")] = Path("report.html"),
    title: Annotated[str, typer.Option(help="Title at the top of the page.")] = "tandem report",
) -> None:
    """Compare RESULTS side by side: configuration, four-axis tables, learning curves, Pareto fronts, tiers.

    The page needs no network to open (inline CSS and SVG plots). A bad input file is named in the
    error and nothing is written.
    """
    from rich.console import Console

    from tandem.report.html import write_report

    try:
        path = write_report(results, out, title=title)
    except TandemError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=2) from None
    typer.echo(f"report written to {path}")
