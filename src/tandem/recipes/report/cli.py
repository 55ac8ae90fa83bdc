"""``tandem report RESULTS... --out report.html``: one self-contained HTML page comparing result files.

Its argument and options are the fields of :class:`ReportConfig`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import Field

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail

report_app = typer.Typer(
    name="report",
    help="Turn result JSON files into one self-contained HTML report.",
    add_completion=False,
    # a callback-only group: let options follow the file list (`tandem report a.json b.json --out r.html`)
    context_settings={"allow_interspersed_args": True},
)


class ReportConfig(RecipeConfig):
    """The files to compare and where the page goes."""

    results: list[Path] = Field(min_length=1, json_schema_extra=cli(argument=True))
    """Result JSON files (tandem demo, tandem fl run, benchmarks); each is one run."""
    out: Path = Field(Path("report.html"), json_schema_extra=cli("--out", "-o"))
    """Where to write the HTML report."""
    title: str = "tandem report"
    """Title at the top of the page."""


@report_app.callback(invoke_without_command=True)
@config_options(ReportConfig)
def report(overrides: Overrides) -> None:
    """Compare RESULTS side by side: configuration, four-axis tables, learning curves, Pareto fronts, tiers.

    The page needs no network to open (inline CSS and SVG plots). A bad input file is named in the
    error and nothing is written.
    """
    from tandem.report.html import write_report

    try:
        config = build_config(ReportConfig, overrides)
        path = write_report(config.results, config.out, title=config.title)
    except TandemError as exc:
        raise fail(exc) from None
    typer.echo(f"report written to {path}")
