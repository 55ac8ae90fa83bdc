"""``tandem route``: the cloud-for-device benchmarks (attached to the main CLI as ``route_app``).

* ``tandem route bench`` — the quality-vs-request-rate curve of every request policy on ML-100k and Beauty
  (plot + tables + one result JSON per data set), then the split-computing check.
* ``tandem route split`` — the split-computing check alone.

Their options are the fields of :class:`~tandem.recipes.routing.prepare.RouteBenchConfig` and
:class:`~tandem.recipes.routing.split_bench.SplitBenchConfig`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError
from tandem.recipes._datafiles import is_file_dataset
from tandem.recipes._options import Overrides, build_config, config_options, fail
from tandem.recipes.routing.prepare import DATASETS, RouteBenchConfig, load_dataset
from tandem.recipes.routing.split_bench import SplitBenchConfig

route_app = typer.Typer(help="Cloud-for-device routing: request policies and split computing.", no_args_is_help=True,
                        add_completion=False)
_err = Console(stderr=True)


def _out_console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=170)


def _split(out: Path, console: Console, as_json: bool, config: SplitBenchConfig | None = None) -> dict:
    from tandem.recipes.routing.split_bench import run_split_bench, split_result, split_table
    from tandem.report.results import write_result

    outcome = run_split_bench(config)
    path = write_result(split_result(outcome), out / "routing-split.json")
    if not as_json:
        console.print(split_table(outcome))
        console.print(f"fleet of {outcome.fleet_size:,} sampled devices, chosen partitions: {outcome.fleet_counts}")
        console.print(f"result written to [bold]{path}[/]")
    return {"split": str(path), "max_abs_diff": outcome.max_abs_diff}


@route_app.command()
@config_options(RouteBenchConfig, exclude=("dataset",))
def bench(
    overrides: Overrides,
    dataset: Annotated[list[str] | None, typer.Option(
        help="ml-100k, beauty, synthetic or the path of your own interaction log (repeatable; default: the config "
             "file's dataset, else ml-100k and beauty).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for result JSONs and the plot.")] = Path("tandem-results/route"),
    split: Annotated[bool, typer.Option(help="Also run the split-computing check.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Measure every request policy's quality-vs-request-rate curve; write plot, tables and result JSON."""
    from tandem.recipes.routing.bench import run_bench
    from tandem.recipes.routing.report import curve_table, outcome_summary, plot_curves, summary_tables, to_result
    from tandem.report.results import write_result

    console = _out_console()
    summary: dict = {"datasets": []}
    outcomes = []
    try:
        cache = {"cache_dir": str(out / "cache")}
        from_file = (overrides.file_values or {}).get("dataset")
        names = dataset or ([from_file] if isinstance(from_file, str) else from_file) or ["ml-100k", "beauty"]
        configs = [build_config(RouteBenchConfig, {**overrides, "dataset": name}, base=cache) for name in names]
        for config in configs:  # a user's file is read (and any mistake in it reported) before anything runs
            if is_file_dataset(config.dataset, DATASETS):
                load_dataset(config)
        for config in configs:
            outcome = run_bench(config, progress=progress and not as_json)
            outcomes.append(outcome)
            path = write_result(to_result(outcome), out / f"routing-{config.dataset_name}.json")
            summary["datasets"].append({**outcome_summary(outcome), "result": str(path)})
            if not as_json:
                console.print(curve_table(outcome))
                for table in summary_tables(outcome):
                    console.print(table)
                console.print(f"result written to [bold]{path}[/]  (wall clock {outcome.wall_s:.0f} s)")
        plot = plot_curves(outcomes, out / "routing-curves.png")
        summary["plot"] = str(plot)
        if not as_json:
            console.print(f"plot written to [bold]{plot}[/]")
        if split:
            summary.update(_split(out, console, as_json))
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))


@route_app.command("split")
@config_options(SplitBenchConfig)
def split_command(
    overrides: Overrides,
    out: Annotated[Path, typer.Option(help="Folder for the result JSON.")] = Path("tandem-results/route"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")] = False,
) -> None:
    """Neurosurgeon-style split computing: planned vs measured best partition per device tier."""
    try:
        summary = _split(out, _out_console(), as_json, build_config(SplitBenchConfig, overrides))
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
