"""``tandem delivery``: cloud -> device delivery commands (attached to the main CLI as a sub-app).

``tandem delivery bench`` runs :func:`tandem.recipes.delivery.bench.run_bench` on the synthetic default or a real
data set found in ``../shared/data`` (``--dataset ml-100k`` / ``beauty``), prints the per-method table and writes
the result JSON. Its options are the fields of :class:`~tandem.recipes.delivery.bench.BenchConfig`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, build_config, config_options, fail
from tandem.recipes.delivery.bench import BenchConfig

delivery_app = typer.Typer(help="Cloud -> device delivery and its benchmarks.", no_args_is_help=True,
                           add_completion=False)
QUICK = {"epochs": 2, "latency_repeats": 30, "finetune_users": 50, "personal_epochs": 1, "max_len": 20,
         "synthetic": {"n_users": 400, "n_items": 200, "n_clusters": 8, "seq_len": 20, "min_seq_len": 5,
                       "follow_prob": 0.5}}


@delivery_app.callback()
def main() -> None:
    """Cloud -> device delivery and its benchmarks."""


@delivery_app.command()
@config_options(BenchConfig)
def bench(
    overrides: Overrides,
    out: Annotated[Path | None, typer.Option(help="Result JSON (default tandem-results/delivery-<dataset>.json).")]
    = None,
    quick: Annotated[bool, typer.Option(help="A fast smoke run (2 epochs, small synthetic set); options given "
                                        "beside it still apply.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON to stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train, compress, personalize and deliver recommenders; print quality, bytes, FLOPs and latency per method."""
    from tandem.recipes.delivery.bench import bench_table, run_bench
    from tandem.report.results import RunResult, write_result

    try:
        config = build_config(BenchConfig, overrides, base=QUICK if quick else None)
        log = None if progress or as_json else lambda line: typer.echo(line, err=True)
        target = out or Path(f"tandem-results/delivery-{config.dataset_name}.json")

        def save(partial: RunResult) -> None:
            write_result(partial, target)

        result = run_bench(config, progress=progress and not as_json, log=log, on_stage=save)
        path = write_result(result, target)
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = Console(width=max(Console().width, 160))
    console.print(bench_table(result))
    console.print(f"result written to [bold]{path}[/]  (wall clock {result.wall_clock_s:.0f} s)")
