"""``tandem text``: the SST-2 large-small collaboration (attached to the main CLI as ``text_app``).

* ``tandem text bench`` — every direction in one run: MiniLM + head (cloud), hashed n-gram model (device),
  distillation + int8/ONNX delivery, federated fine-tuning, and the cascade's accuracy-vs-request-rate curves;
  writes the result JSON (for ``tandem report``) and a PNG plot, prints the tables and acceptance checks.
* ``tandem text embed`` — embed SST-2 train/dev with the packaged MiniLM into the cache (the slow step, once).

Their options are the fields of :class:`~tandem.recipes.text.data.TextBenchConfig` and :class:`EmbedConfig`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import Field
from rich.console import Console

from tandem.core.errors import TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, check_writable, config_options, fail
from tandem.recipes.text.data import TextBenchConfig

text_app = typer.Typer(help="Large-small collaboration on text: SST-2 cascade with a packaged MiniLM cloud model.",
                       no_args_is_help=True, add_completion=False)

class EmbedConfig(RecipeConfig):
    """Knobs of ``tandem text embed``."""

    data: str | None = None
    """SST-2 folder (default: $TANDEM_DATA/sst2 or ../shared/data)."""
    cache_dir: str | None = None
    """Embedding cache (default: ~/.cache/tandem/embeddings)."""
    threads: int | None = Field(None, ge=1)
    """Torch threads for the encoder."""


@text_app.command()
@config_options(TextBenchConfig)
def bench(
    overrides: Overrides,
    out: Annotated[Path, typer.Option(help="Folder for the result JSON and the plot.")] = Path("tandem-results/text"),
    synthetic: Annotated[bool, typer.Option(help="Toy run on synthetic reviews (no SST-2, no MiniLM needed).")] =
        False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the headline numbers as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Run the SST-2 large-small benchmark; write ``text-cascade.json`` and ``text-cascade.png`` under ``out``."""
    from tandem.recipes.tables import stage_table
    from tandem.recipes.text.bench import run_text_bench
    from tandem.recipes.text.report import acceptance, curve_table, headline_table, plot_curves
    from tandem.report.results import write_result

    try:
        check_writable(out / "text-cascade.json")
        data_in = None
        chosen = overrides.get("dataset", (overrides.file_values or {}).get("dataset", "sst2"))
        if synthetic or chosen == "synthetic":
            from tandem.recipes.text.synthetic import SYNTHETIC_CONFIG, synthetic_text_data

            config = build_config(TextBenchConfig, overrides, base=SYNTHETIC_CONFIG)
            data_in = synthetic_text_data(config)
        elif chosen != "sst2":  # a user's file: read it first, then size the run's roles to it
            from tandem.recipes.text.user_data import load_user_texts, user_file_preset, user_text_data

            probe = build_config(TextBenchConfig, overrides, base={"budgets": ()})
            texts = load_user_texts(probe)
            config = build_config(TextBenchConfig, overrides, base=user_file_preset(len(texts), probe.dev_fraction))
            data_in = user_text_data(config, texts, progress=progress and not as_json)
        else:
            config = build_config(TextBenchConfig, overrides)
        outcome = run_text_bench(config, data=data_in, progress=progress and not as_json)
    except TandemError as exc:
        raise fail(exc) from None
    path = write_result(outcome.result, out / "text-cascade.json")
    h = outcome.headline
    plot = plot_curves(outcome.curves, h["device_accuracy"], h["large_accuracy"], out / "text-cascade.png")
    checks = acceptance(h)
    if as_json:
        typer.echo(json.dumps({"result": str(path), "plot": str(plot), "headline": h, "acceptance": checks},
                              indent=2))
        if not all(checks.values()):
            raise typer.Exit(1)
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(stage_table(outcome.result))
    console.print(headline_table(h))
    console.print(curve_table(outcome.curves))
    for name, ok in checks.items():
        console.print(f"{'[green]PASS' if ok else '[red]FAIL'}[/] {name}")
    console.print(f"result: [bold]{path}[/]  plot: [bold]{plot}[/]")
    if not all(checks.values()):  # a bench that prints FAIL must not look like a success to a script
        failed = [name for name, ok in checks.items() if not ok]
        Console(stderr=True).print(f"[red]FAIL[/]: {len(failed)} acceptance check(s) failed: {', '.join(failed)}",
                                   highlight=False, markup=True)
        raise typer.Exit(1)


@text_app.command()
@config_options(EmbedConfig)
def embed(
    overrides: Overrides,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Embed SST-2 train and dev with the packaged all-MiniLM-L6-v2 into the cache (minutes on a CPU)."""
    from tandem.data import load_sst2
    from tandem.text.encoder import DEFAULT_CACHE, cached_embeddings, load_minilm

    try:
        config = build_config(EmbedConfig, overrides)
        encoder = load_minilm(threads=config.threads)
        cache = config.cache_dir or DEFAULT_CACHE
        for split in ("dev", "train"):
            sentences = load_sst2(config.data, split=split).sentences
            vectors = cached_embeddings(sentences, encoder, cache_dir=cache, progress=progress)
            typer.echo(f"{split}: {vectors.shape[0]} x {vectors.shape[1]} embeddings in {cache}")
    except TandemError as exc:
        raise fail(exc) from None
