"""Terminal tables, acceptance checks and the accuracy-vs-request-rate plot of the SST-2 benchmark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.table import Table

from tandem.text.cascade import CurvePoint

#: The issue's acceptance bar: at the headline rate the cascade recovers >= 80% of the gap and beats random;
#: distillation beats labels alone; the device answers a sentence in <= 1 ms (p50, 1 thread).
MIN_PGR = 0.8
MAX_P50_MS = 1.0


def acceptance(headline: Mapping[str, float]) -> dict[str, bool]:
    """Each acceptance criterion -> whether the run meets it."""
    return {
        f"cascade PGR >= {MIN_PGR:.0%} at {headline['cascade_rate']:.0%}": headline["confidence_pgr"] >= MIN_PGR,
        "cascade beats random at the same rate": headline["confidence_accuracy"] > headline["random_accuracy"],
        "distillation beats labels alone": headline["distill_gain"] > 0,
        f"device p50 <= {MAX_P50_MS} ms (hashing + ONNX, 1 thread)": headline["e2e_p50_ms"] <= MAX_P50_MS,
    }


def headline_table(headline: Mapping[str, float]) -> Table:
    """The numbers the issue asks for, one per row."""
    table = Table(title="dev set: large-small collaboration")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [("large model (MiniLM-L6 + head) accuracy", f"{headline['large_accuracy']:.4f}"),
            ("small model, labels only", f"{headline['small_labels_accuracy']:.4f}"),
            ("small model, distilled on unlabeled text", f"{headline['small_distilled_accuracy']:.4f}"),
            ("distillation gain (95% bootstrap CI)", f"{headline['distill_gain']:+.4f}" + (
                f" [{headline['distill_gain_lo']:+.4f}, {headline['distill_gain_hi']:+.4f}]"
                if "distill_gain_lo" in headline else "")),
            ("small model after federated fine-tuning", f"{headline['small_federated_accuracy']:.4f}"),
            ("deployed small model (int8, ONNX Runtime)", f"{headline['device_accuracy']:.4f}")]
    rate = headline["cascade_rate"]
    for name in ("confidence", "learned", "random", "oracle"):
        rows.append((f"cascade {name} @{rate:.0%}: accuracy / PGR / APGR",
                     f"{headline[f'{name}_accuracy']:.4f} / {headline[f'{name}_pgr']:.2f} / "
                     f"{headline[f'{name}_apgr']:.2f}"))
    for other in ("random", "large"):
        key = f"confidence_minus_{other}"
        if key in headline:
            rows.append((f"confidence cascade @{rate:.0%} minus {other} (95% bootstrap CI)",
                         f"{headline[key]:+.4f} [{headline[key + '_lo']:+.4f}, {headline[key + '_hi']:+.4f}]"))
    for key in sorted((k for k in headline if k.startswith("distill_gain@") and not k.endswith(("_lo", "_hi"))),
                      key=lambda k: int(k.split("@")[1])):
        ci = f" [{headline[key + '_lo']:+.4f}, {headline[key + '_hi']:+.4f}]" if key + "_lo" in headline else ""
        rows.append((f"distillation gain with {key.split('@')[1]} labels (95% CI)", f"{headline[key]:+.4f}{ci}"))
    rows.append(("device latency p50 / p95 (ms), hashing + ONNX", f"{headline['e2e_p50_ms']:.4f} / "
                                                                  f"{headline['e2e_p95_ms']:.4f}"))
    rows.append(("device latency p50 (ms), ONNX call only", f"{headline['model_p50_ms']:.4f}"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def curve_table(points: Mapping[str, Sequence[CurvePoint]]) -> Table:
    """Accuracy (and PGR) per target request rate, one column per policy."""
    names = list(points)
    table = Table(title="accuracy (PGR) vs cloud request rate")
    table.add_column("target rate", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for i, p in enumerate(points[names[0]]):
        cells = [f"{points[n][i].accuracy:.4f} ({points[n][i].pgr:+.2f})" for n in names]
        table.add_row(f"{p.target:.0%}", *cells)
    return table


def plot_curves(points: Mapping[str, Sequence[CurvePoint]], acc_small: float, acc_large: float,
                path: str | Path) -> Path:
    """PNG of accuracy vs measured request rate per policy, with the small-only and large-only levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, pts in points.items():
        ax.plot([p.rate for p in pts], [p.accuracy for p in pts], marker="o", ms=3, label=name,
                linestyle="--" if name == "oracle" else "-")
    ax.axhline(acc_large, color="gray", lw=0.8, ls=":", label="large only")
    ax.axhline(acc_small, color="gray", lw=0.8, ls="-.", label="small only")
    ax.set_xlabel("cloud request rate")
    ax.set_ylabel("SST-2 dev accuracy")
    ax.set_title("device-cloud cascade (PGR as in RouteLLM, Ong et al. 2024)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
