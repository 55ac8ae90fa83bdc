"""``tandem delivery``: cloud -> device delivery commands (attached to the main CLI as a sub-app).

``tandem delivery bench`` runs :func:`tandem.recipes.delivery.bench.run_bench` on the synthetic default or a real data
set found in ``../shared/data`` (``--dataset ml-100k`` / ``beauty``), prints the per-method table and writes the
result JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError

delivery_app = typer.Typer(help="Cloud -> device delivery and its benchmarks.", no_args_is_help=True,
                           add_completion=False)
QUICK = {"epochs": 2, "latency_repeats": 30, "finetune_users": 50, "personal_epochs": 1, "max_len": 20,
         "synthetic": {"n_users": 400, "n_items": 200, "n_clusters": 8, "seq_len": 20, "min_seq_len": 5,
                       "follow_prob": 0.5}}


@delivery_app.callback()
def main() -> None:
    """Cloud -> device delivery and its benchmarks."""


@delivery_app.command()
def bench(
    dataset: Annotated[str, typer.Option(help="synthetic | ml-100k | beauty")] = "synthetic",
    out: Annotated[Path | None, typer.Option(help="Result JSON (default tandem-results/delivery-<dataset>.json).")]
    = None,
    data_root: Annotated[Path | None, typer.Option(help="Data root (default $TANDEM_DATA or ../shared/data).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Most training epochs (early stopping on validation).")] = 30,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without validation gain before stopping.")] = 3,
    max_len: Annotated[int, typer.Option(min=2, help="Longest history a model reads.")] = 50,
    negatives: Annotated[int, typer.Option(min=0, help="Sampled-softmax negatives of the large model (0: full).")]
    = 1024,
    distill_top_k: Annotated[int, typer.Option(min=0, help="Distil the teacher's top-k items only (0: its whole "
                                               "distribution); the teacher then runs once per window.")] = 100,
    temperature: Annotated[float, typer.Option(min=0.01, help="Distillation temperature.")] = 1.0,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of the teacher's soft labels in the "
                                         "distilled student (the rest: labels).")] = 0.0,
    logit_kd_alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Also train a logit-KD-only student at "
                                                  "this weight, for comparison (0: skip).")] = 0.5,
    transfer_items: Annotated[bool, typer.Option(help="Start the distilled student's item table from the "
                                                 "teacher's (projected) before distilling.")] = True,
    gru4rec: Annotated[bool, typer.Option(help="Also train device-sized GRU4Rec models.")] = True,
    onnx: Annotated[bool, typer.Option(help="Export to ONNX and measure ONNX Runtime latency.")] = True,
    finetune_users: Annotated[int, typer.Option(min=0, help="Devices that fine-tune on their own sequence.")] = 500,
    personal_epochs: Annotated[int, typer.Option(min=1, help="Epochs of the mask / hypernetwork generators.")] = 3,
    cache_dir: Annotated[Path | None, typer.Option(help="Reuse trained checkpoints from this folder.")] = None,
    max_train_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget of each model's training "
                                                              "(keeps the best validation epoch so far).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch intra-op threads for training.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    quick: Annotated[bool, typer.Option(help="A fast smoke run (2 epochs, small synthetic set).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON to stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train, compress, personalize and deliver recommenders; print quality, bytes, FLOPs and latency per method."""
    from tandem.recipes.delivery.bench import BenchConfig, bench_table, run_bench
    from tandem.report.results import write_result

    options = {"dataset": dataset, "data_root": None if data_root is None else str(data_root), "epochs": epochs,
               "patience": patience, "max_len": max_len, "n_negatives": negatives or None,
               "distill_top_k": distill_top_k or None, "temperature": temperature, "alpha": alpha,
               "logit_kd_alpha": logit_kd_alpha or None, "transfer_items": transfer_items, "gru4rec": gru4rec,
               "onnx": onnx, "finetune_users": finetune_users, "personal_epochs": personal_epochs,
               "cache_dir": None if cache_dir is None else str(cache_dir),
               "max_train_minutes": max_train_minutes, "threads": threads, "seed": seed}
    if quick:
        options.update(QUICK)
    try:
        config = BenchConfig(**options)
        log = None if progress or as_json else lambda line: typer.echo(line, err=True)
        target = out or Path(f"tandem-results/delivery-{dataset}.json")
        result = run_bench(config, progress=progress and not as_json, log=log,
                           on_stage=lambda partial: write_result(partial, target))
        path = write_result(result, target)
    except TandemError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = Console(width=max(Console().width, 160))
    console.print(bench_table(result))
    console.print(f"result written to [bold]{path}[/]  (wall clock {result.wall_clock_s:.0f} s)")
