"""``tandem route``: the cloud-for-device benchmarks (attached to the main CLI as ``route_app``).

* ``tandem route bench`` — the quality-vs-request-rate curve of every request policy on ML-100k and Beauty
  (plot + tables + one result JSON per data set), then the split-computing check.
* ``tandem route split`` — the split-computing check alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError

route_app = typer.Typer(help="Cloud-for-device routing: request policies and split computing.", no_args_is_help=True,
                        add_completion=False)
_err = Console(stderr=True)


def _out_console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=170)


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise typer.BadParameter(f"{what}: no values")
    return values


def _split(out: Path, console: Console, as_json: bool) -> dict:
    from tandem.recipes.routing.split_bench import run_split_bench, split_result, split_table
    from tandem.report.results import write_result

    outcome = run_split_bench()
    path = write_result(split_result(outcome), out / "routing-split.json")
    if not as_json:
        console.print(split_table(outcome))
        console.print(f"fleet of 10,000 sampled devices, chosen partitions: {outcome.fleet_counts}")
        console.print(f"result written to [bold]{path}[/]")
    return {"split": str(path), "max_abs_diff": outcome.max_abs_diff}


@route_app.command()
def bench(
    dataset: Annotated[list[str] | None, typer.Option(help="ml-100k, beauty or synthetic (repeatable).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for result JSONs and the plot.")] = Path("tandem-results/route"),
    data_root: Annotated[Path | None, typer.Option(help="Data root (default: $TANDEM_DATA or ../shared/data).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Trained-model cache (default: <out>/cache).")] = None,
    arch: Annotated[str, typer.Option(help="sasrec or gru4rec, for both the large and the small model.")] = "sasrec",
    combiner: Annotated[str, typer.Option(help="small, cloud, fusion or rerank.")] = "fusion",
    fusion_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of the cloud in fusion.")] = 0.5,
    fusion_age_fit: Annotated[str, typer.Option(
        help="Fusion: fit the cloud's weight per answer age on the log users: all (every age), stale (ages >= 1; "
             "fresh answers keep --fusion-weight) or off (one weight for all ages).")] = "all",
    fusion_max_age: Annotated[int, typer.Option(min=0, help="Fusion: oldest answer age with its own weight.")] = 16,
    anticipate: Annotated[int, typer.Option(
        min=0, help="Anticipated clicks per cloud answer: the cloud also sends its answer after each of its top "
                    "N items (0: the candidate list alone).")] = 300,
    anticipate_len: Annotated[int, typer.Option(min=1, help="Candidates in each anticipated answer.")] = 30,
    anticipate_pool: Annotated[int, typer.Option(
        min=0, help="Choose each anticipated answer among the cloud's best P items for the history alone (fewer "
                    "cloud FLOPs on a large catalogue); 0: among every item.")] = 0,
    rates: Annotated[str, typer.Option(help="Target request rates, comma-separated.")] = "0.05,0.1,0.2,0.3,0.5",
    policies: Annotated[str, typer.Option(help="Policies to calibrate, comma-separated.")] =
        "periodic,random,confidence,inconsistency,learned",
    value_members: Annotated[int, typer.Option(min=1, help="Networks averaged in the value model.")] = 5,
    quality_target: Annotated[str, typer.Option(
        help="Also calibrate the learned policy to these shares of the never->always gap (fewest requests, on log "
             "users), comma-separated; empty: skip.")] = "0.8,0.85,0.9",
    quality_cap: Annotated[float, typer.Option(min=0.0, max=1.0, help="Request-rate cap of the quality-target runs.")
                           ] = 0.2,
    max_users: Annotated[int | None, typer.Option(min=10, help="Cap log and eval users (quick runs).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Most training epochs per model.")] = 200,
    train_seconds: Annotated[float, typer.Option(min=1.0, help="Wall-clock budget of each model's training.")] = 1200.0,
    split: Annotated[bool, typer.Option(help="Also run the split-computing check.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Measure every request policy's quality-vs-request-rate curve; write plot, tables and result JSON."""
    from tandem.recipes.routing.bench import run_bench
    from tandem.recipes.routing.prepare import RouteBenchConfig
    from tandem.recipes.routing.report import curve_table, outcome_summary, plot_curves, summary_tables, to_result
    from tandem.report.results import write_result

    console = _out_console()
    summary: dict = {"datasets": []}
    outcomes = []
    try:
        for name in dataset or ["ml-100k", "beauty"]:
            config = RouteBenchConfig(
                dataset=name, data_root=str(data_root) if data_root else None, arch=arch, combiner=combiner,
                fusion_weight=fusion_weight, fusion_age_fit=fusion_age_fit, fusion_max_age=fusion_max_age,
                anticipate=anticipate, anticipate_len=anticipate_len, anticipate_pool=anticipate_pool,
                rates=_floats(rates, "--rates"),
                quality_targets=_floats(quality_target, "--quality-target") if quality_target.strip() else (),
                quality_cap=quality_cap, value_members=value_members, max_users=max_users, epochs=epochs,
                max_train_seconds=train_seconds,
                policies=tuple(p.strip() for p in policies.split(",") if p.strip()), seed=seed,
                cache_dir=str(cache_dir or out / "cache"))
            outcome = run_bench(config, progress=progress and not as_json)
            outcomes.append(outcome)
            path = write_result(to_result(outcome), out / f"routing-{name}.json")
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
        _err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))


@route_app.command("split")
def split_command(
    out: Annotated[Path, typer.Option(help="Folder for the result JSON.")] = Path("tandem-results/route"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")] = False,
) -> None:
    """Neurosurgeon-style split computing: planned vs measured best partition per device tier."""
    try:
        summary = _split(out, _out_console(), as_json)
    except TandemError as exc:
        _err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
