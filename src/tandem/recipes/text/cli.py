"""``tandem text``: the SST-2 large-small collaboration (attached to the main CLI as ``text_app``).

* ``tandem text bench`` — every direction in one run: MiniLM + head (cloud), hashed n-gram model (device),
  distillation + int8/ONNX delivery, federated fine-tuning, and the cascade's accuracy-vs-request-rate curves;
  writes the result JSON (for ``tandem report``) and a PNG plot, prints the tables and acceptance checks.
* ``tandem text embed`` — embed SST-2 train/dev with the packaged MiniLM into the cache (the slow step, once).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem.core.errors import TandemError

text_app = typer.Typer(help="Large-small collaboration on text: SST-2 cascade with a packaged MiniLM cloud model.",
                       no_args_is_help=True, add_completion=False)
_err = Console(stderr=True)

DataOpt = Annotated[Path | None, typer.Option(help="SST-2 folder (default: $TANDEM_DATA/sst2 or ../shared/data).")]
CacheOpt = Annotated[Path | None, typer.Option(help="Embedding cache (default: ~/.cache/tandem/embeddings).")]


def _fail(exc: TandemError) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=2)


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"rates: expected comma-separated numbers in [0, 1], got {text!r}") from None


@text_app.command()
def bench(
    data: DataOpt = None,
    out: Annotated[Path, typer.Option(help="Folder for the result JSON and the plot.")] = Path("tandem-results/text"),
    cache_dir: CacheOpt = None,
    n_labeled: Annotated[int, typer.Option(min=100, help="Cloud's labelled training rows.")] = 8000,
    n_user_rows: Annotated[int, typer.Option(min=100, help="Users' private labelled rows (federated).")] = 16000,
    n_users: Annotated[int, typer.Option(min=2, help="Simulated users.")] = 500,
    fed_strategy: Annotated[str, typer.Option(help="Federated strategy (fedavg, fedprox, ...).")] = "fedavg",
    fed_rule: Annotated[str | None, typer.Option(help="Robust aggregation rule around the strategy (median, "
                                                       "trimmed_mean, krum, multikrum, norm_clip).")] = None,
    fed_rounds: Annotated[int, typer.Option(min=1, help="Federated rounds.")] = 20,
    rates: Annotated[str, typer.Option(help="Request rates of the curve, 0 to 1.")] =
        "0,0.05,0.1,0.15,0.2,0.25,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
    reference: Annotated[bool, typer.Option(help="Also train both models on all labels, for context.")] = True,
    synthetic: Annotated[bool, typer.Option(help="Toy run on synthetic reviews (no SST-2, no MiniLM needed).")] =
        False,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the headline numbers as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Run the SST-2 large-small benchmark; write ``text-cascade.json`` and ``text-cascade.png`` under ``out``."""
    from tandem.recipes.text.bench import run_text_bench
    from tandem.recipes.text.data import TextBenchConfig
    from tandem.recipes.text.report import acceptance, curve_table, headline_table, plot_curves
    from tandem.report.results import write_result
    from tandem.report.table import stage_table

    try:
        config = TextBenchConfig(data=None if data is None else str(data), n_labeled=n_labeled,
                                 n_user_rows=n_user_rows, n_users=n_users, fed_strategy=fed_strategy,
                                 fed_rule=fed_rule, fed_rounds=fed_rounds, rates=_rates(rates), reference=reference,
                                 seed=seed, cache_dir=None if cache_dir is None else str(cache_dir))
        data_in = None
        if synthetic:
            from tandem.recipes.text.synthetic import SYNTHETIC_CONFIG, synthetic_text_data

            config = dataclasses.replace(config, **SYNTHETIC_CONFIG)
            data_in = synthetic_text_data(config)
        outcome = run_text_bench(config, data=data_in, progress=progress and not as_json)
    except TandemError as exc:
        raise _fail(exc) from None
    path = write_result(outcome.result, out / "text-cascade.json")
    h = outcome.headline
    plot = plot_curves(outcome.curves, h["device_accuracy"], h["large_accuracy"], out / "text-cascade.png")
    checks = acceptance(h)
    if as_json:
        typer.echo(json.dumps({"result": str(path), "plot": str(plot), "headline": h, "acceptance": checks},
                              indent=2))
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(stage_table(outcome.result))
    console.print(headline_table(h))
    console.print(curve_table(outcome.curves))
    for name, ok in checks.items():
        console.print(f"{'[green]PASS' if ok else '[red]FAIL'}[/] {name}")
    console.print(f"result: [bold]{path}[/]  plot: [bold]{plot}[/]")


@text_app.command()
def embed(
    data: DataOpt = None,
    cache_dir: CacheOpt = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads for the encoder.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Embed SST-2 train and dev with the packaged all-MiniLM-L6-v2 into the cache (minutes on a CPU)."""
    from tandem.data import load_sst2
    from tandem.text.encoder import DEFAULT_CACHE, cached_embeddings, load_minilm

    try:
        encoder = load_minilm(threads=threads)
        for split in ("dev", "train"):
            sentences = load_sst2(data, split=split).sentences
            vectors = cached_embeddings(sentences, encoder, cache_dir=cache_dir or DEFAULT_CACHE, progress=progress)
            typer.echo(f"{split}: {vectors.shape[0]} x {vectors.shape[1]} embeddings in {cache_dir or DEFAULT_CACHE}")
    except TandemError as exc:
        raise _fail(exc) from None
