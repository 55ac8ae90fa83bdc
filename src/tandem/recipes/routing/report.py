"""Turning a routing bench outcome into the result JSON, rich tables and the quality-vs-request-rate plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tandem.recipes.routing.bench import BenchOutcome, PolicyPoint
from tandem.report.results import RunResult, StageRecord
from tandem.routing.stream import StreamRun

DIRECTION = "cloud_for_device"
HEADLINE_RATES = (0.1, 0.2, 0.3)


def _stage(name: str, run: StreamRun, extra: dict[str, float], notes: str = "") -> StageRecord:
    steps = max(run.n_steps, 1)
    return StageRecord(
        stage=name, direction=DIRECTION, metrics={k: round(v, 6) for k, v in run.metrics.items()},
        extra={"request_rate": round(run.request_rate, 6), "steps": run.n_steps,
               "bytes_up_per_step": round(run.bytes_up / steps, 2),
               "bytes_down_per_step": round(run.bytes_down / steps, 2),
               "latency_mean_s": run.latency_mean_s, **{k: round(v, 6) for k, v in extra.items()}},
        bytes_down=run.bytes_down, bytes_up=run.bytes_up, latency_p50_s=run.latency_p50_s,
        latency_p95_s=run.latency_p95_s, cloud_flops=run.cloud_flops, cloud_requests=run.requests, notes=notes)


def _point_name(p: PolicyPoint) -> str:
    return p.policy if p.target is None else f"{p.policy}@{p.target:.0%}"


def to_result(outcome: BenchOutcome) -> RunResult:
    """The result JSON (``kind`` ``routing``): one stage per measured point, one curve per policy."""
    o, metric = outcome, outcome.metric
    stages = [_stage("never", o.never, {"recovered": 0.0}), _stage("always", o.always, {"recovered": 1.0})]
    for p in o.points:
        extra = {"target_rate": p.target or 0.0, "recovered": p.recovered,
                 "calibration_rate": p.calibration_rate or 0.0, **{f"knob_{k}": v for k, v in p.knob.items()}}
        if p.gain_vs_random is not None:
            extra["gain_per_request_vs_random"] = p.gain_vs_random
        for name, ci in (("recovered", p.recovered_ci), ("gain_per_request_vs_random", p.gain_vs_random_ci)):
            if ci is not None:
                extra[f"{name}_ci95_low"], extra[f"{name}_ci95_high"] = ci
        stages.append(_stage(_point_name(p), p.run, extra, notes="calibrated on log users, measured on eval users"))
    bounds = [{"x": r.request_rate, "y": r.metrics[metric], "label": r.policy} for r in (o.never, o.always)]
    curves = [{"name": "never / always", "x": "request_rate", "y": metric, "points": bounds}]
    for name in dict.fromkeys(p.policy for p in o.points):
        pts = sorted((p for p in o.points if p.policy == name), key=lambda p: p.run.request_rate)
        curves.append({"name": name, "x": "request_rate", "y": metric, "points": [
            {"x": p.run.request_rate, "y": p.run.metrics[metric], "label": f"target {p.target:.0%}"} for p in pts]})
    config = {**o.config.to_dict(), "models": o.setup_info, "value_model": o.value_report, "budget": o.budget,
              "combiners": o.combiners, "headline": headline(o),
              "quality_target": [q.to_dict(metric) for q in o.quality]}
    return RunResult(kind="routing", config=config, stages=stages, curves=curves, wall_clock_s=o.wall_s)


def headline(o: BenchOutcome) -> dict[str, dict[str, float]]:
    """``{policy: {"10%": recovered, ...}}`` and the learned/random gain-per-request ratio at 10/20/30%."""
    out: dict[str, dict[str, float]] = {}
    for p in o.points:
        if p.target in HEADLINE_RATES:
            out.setdefault(p.policy, {})[f"{p.target:.0%}"] = round(p.recovered, 4)
            if p.gain_vs_random is not None:
                out.setdefault(f"{p.policy} gain/request vs random", {})[f"{p.target:.0%}"] = round(p.gain_vs_random, 3)
    return out


def share_with_ci(share: float, ci: tuple[float, float] | None) -> str:
    """``81.5% (77.0–86.1)``: a share of the gap with its 95% interval, if any."""
    return f"{share:.1%}" if ci is None else f"{share:.1%} ({ci[0]:.1%}–{ci[1]:.1%})".replace("%–", "–")


def ratio_with_ci(ratio: float | None, ci: tuple[float, float] | None) -> str:
    """``1.34x (1.21–1.49)``, ``-`` where there is no ratio."""
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ci is None else f"{ratio:.2f}x ({ci[0]:.2f}–{ci[1]:.2f})"


def curve_table(o: BenchOutcome) -> Table:
    """Every measured point: rate, quality, share of the never->always gap recovered, bytes, latency."""
    metric = o.metric
    hr = metric.replace("ndcg", "hr")
    t = Table(title=f"{o.config.dataset}: quality vs cloud request rate (eval users; calibrated on log users)")
    for col in ("policy", "target", "rate", metric.upper(), hr.upper(), "gap recovered (95% CI)",
                "gain/req vs random (95% CI)",
                "up B/step", "down B/step", "p95 latency ms"):
        t.add_column(col, justify="left" if col == "policy" else "right")

    def row(name: str, target: str, run: StreamRun, rec: str, ratio: str) -> None:
        steps = max(run.n_steps, 1)
        t.add_row(name, target, f"{run.request_rate:.3f}", f"{run.metrics[metric]:.4f}", f"{run.metrics[hr]:.4f}",
                  rec, ratio, f"{run.bytes_up / steps:.0f}", f"{run.bytes_down / steps:.0f}",
                  f"{run.latency_p95_s * 1e3:.1f}")

    row("never", "-", o.never, "0.0%", "-")
    for p in o.points:
        row(p.policy, f"{p.target:.0%}", p.run, share_with_ci(p.recovered, p.recovered_ci),
            ratio_with_ci(p.gain_vs_random, p.gain_vs_random_ci))
    row("always", "-", o.always, "100.0%", "-")
    return t


def summary_tables(o: BenchOutcome) -> list[Table]:
    """The headline (gap recovered at 10/20/30%), budget control and combiner tables."""
    head = Table(title=f"{o.config.dataset}: share of the never->always {o.metric.upper()} gap recovered")
    head.add_column("policy")
    for r in HEADLINE_RATES:
        head.add_column(f"@{r:.0%}", justify="right")
    for name, vals in headline(o).items():
        fmt = (lambda v: f"{v:.2f}x") if "vs random" in name else (lambda v: f"{v:.1%}")
        head.add_row(name, *(fmt(vals[f"{r:.0%}"]) if f"{r:.0%}" in vals else "-" for r in HEADLINE_RATES))
    budget = Table(title=f"{o.config.dataset}: budget control on eval users")
    for col in ("case", "request rate", o.metric.upper(), "gap recovered", "max rate of a device (20+ steps)"):
        budget.add_column(col, justify="left" if col == "case" else "right")
    for b in o.budget:
        budget.add_row(b["case"], f"{b['request_rate']:.3f}", f"{b[o.metric]:.4f}", f"{b['recovered']:.1%}",
                       "-" if b["max_device_rate"] is None else f"{b['max_device_rate']:.3f}")
    comb = Table(title=f"{o.config.dataset}: combining large and small ({o.metric.upper()}, eval users)")
    labels = ["never", "periodic(5)", f"random {o.config.comparison_rate:.0%}", "always"]
    comb.add_column("combiner")
    for label in labels:
        comb.add_column(label, justify="right")
    for c in o.combiners:
        comb.add_row(c["combiner"], *(f"{c[label]:.4f}" if label in c else "-" for label in labels))
    return [head, budget, comb] + ([quality_table(o)] if o.quality else [])


def quality_table(o: BenchOutcome) -> Table:
    """The learned policy calibrated to a share of the gap under a rate cap, against random spending the cap."""
    t = Table(title=f"{o.config.dataset}: learned policy at a quality target (calibrated on log users, eval users)")
    for col in ("target share", "cap", "rate (log)", "rate (eval)", o.metric.upper(), "gap recovered (95% CI)",
                "gain/req vs random at cap (95% CI)"):
        t.add_column(col, justify="right")
    for q in o.quality:
        t.add_row(f"{q.target_share:.0%}", f"{q.cap:.0%}", f"{q.calibration_rate:.3f}", f"{q.run.request_rate:.3f}",
                  f"{q.run.metrics[o.metric]:.4f}", share_with_ci(q.recovered, q.recovered_ci),
                  ratio_with_ci(q.gain_vs_random, q.gain_vs_random_ci))
    return t


def plot_curves(outcomes: list[BenchOutcome], path: str | Path) -> Path:
    """One panel per data set: every policy's measured points, never and always as the bounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(outcomes), figsize=(6.2 * len(outcomes), 4.6), squeeze=False)
    for ax, o in zip(axes[0], outcomes, strict=True):
        metric = o.metric
        for name in dict.fromkeys(p.policy for p in o.points):
            pts = sorted((p for p in o.points if p.policy == name), key=lambda p: p.run.request_rate)
            ax.plot([p.run.request_rate for p in pts], [p.run.metrics[metric] for p in pts], marker="o", label=name)
        if o.quality:
            ax.scatter([q.run.request_rate for q in o.quality], [q.run.metrics[metric] for q in o.quality],
                       marker="*", s=160, color="crimson", zorder=4, label="learned at a quality target")
        for run, style in ((o.never, "k:"), (o.always, "k--")):
            ax.axhline(run.metrics[metric], color="k", linestyle=style[1:], linewidth=1,
                       label=f"{run.policy} ({run.metrics[metric]:.4f})")
        ax.scatter([0.0, 1.0], [o.never.metrics[metric], o.always.metrics[metric]], color="k", zorder=3)
        ax.set_xlabel("cloud request rate (requests per device-step)")
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{o.config.dataset}: {o.config.arch} large -> small, {o.config.combiner}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def outcome_summary(o: BenchOutcome) -> dict[str, Any]:
    """A small JSON-able summary for logs and the CLI's ``--json``."""
    return {"dataset": o.config.dataset, "never": o.never.metrics, "always": o.always.metrics,
            "headline": headline(o), "wall_s": round(o.wall_s, 1)}
