"""What a report shows, derived from results: headline numbers, quality metrics and trade-off series.

Pure functions of :class:`~tandem.report.results.RunResult`; no plotting and no HTML here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from tandem.report.federated import ROUND_BOOKKEEPING
from tandem.report.results import RunResult

#: The quality metric a run is summarised by: the first of these it has (else its first metric).
QUALITY_PREFERENCE = ("accuracy", "hr@10", "ndcg@10", "auc", "f1", "local_accuracy")
#: Metrics recorded in stages or rounds that describe size or bookkeeping, not quality.
NOT_QUALITY = ROUND_BOOKKEEPING | {"params", "request_rate", "requests", "budget"}


def is_quality(name: str) -> bool:
    """Whether a metric name measures model quality (not a size, a count or a byte total)."""
    return name not in NOT_QUALITY and not name.endswith(("bytes", "_s", "params", "flops"))


def higher_is_better(metric: str) -> bool:
    """``False`` for losses and errors, ``True`` for accuracy-like metrics."""
    name = metric.lower()
    return not (name.endswith("loss") or "error" in name or name in {"mse", "mae", "rmse", "perplexity"})


def finite_number(value: Any) -> TypeGuard[float]:
    """A real, finite number (not a bool, NaN or infinity): something a plot or a front can use."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def quality_metrics(result: RunResult) -> list[str]:
    """Quality metric names of a run: those in ``QUALITY_PREFERENCE`` first, then in order of appearance."""
    names: list[str] = []
    for record in result.rounds + [stage.metrics for stage in result.stages]:
        names += [k for k, v in record.items() if k not in names and is_quality(k) and finite_number(v)]
    return sorted(names, key=lambda m: QUALITY_PREFERENCE.index(m) if m in QUALITY_PREFERENCE else len(names))


def primary_metric(result: RunResult) -> str | None:
    """The metric a run is summarised by (see ``QUALITY_PREFERENCE``), or ``None`` if it has none."""
    names = quality_metrics(result)
    return next((m for m in QUALITY_PREFERENCE if m in names), names[0] if names else None)


@dataclass
class Headline:
    """A run on the four axes: final quality, bytes on the wire, worst latency, cloud cost."""

    quality: dict[str, float]
    bytes_down: int
    bytes_up: int
    latency_p50_s: float
    latency_p95_s: float
    cloud_flops: float
    cloud_requests: int
    rounds: int


def headline(result: RunResult) -> Headline:
    """Final value of every quality metric (last stage or round that has it), totals and worst latencies."""
    quality: dict[str, float] = {}
    for record in result.rounds + [stage.metrics for stage in result.stages]:
        quality.update({k: float(v) for k, v in record.items() if is_quality(k) and finite_number(v)})
    stages = result.stages
    return Headline(
        quality={m: quality[m] for m in quality_metrics(result) if m in quality},
        bytes_down=sum(int(s.bytes_down) for s in stages),
        bytes_up=sum(int(s.bytes_up) for s in stages),
        latency_p50_s=max((float(s.latency_p50_s) for s in stages), default=0.0),
        latency_p95_s=max((float(s.latency_p95_s) for s in stages), default=0.0),
        cloud_flops=sum(float(s.cloud_flops) for s in stages),
        cloud_requests=sum(int(s.cloud_requests) for s in stages),
        rounds=sum(1 for r in result.rounds if finite_number(r.get("round")) and r["round"] > 0),
    )


@dataclass
class Series:
    """One named line of a trade-off plot: ``(x, y, label)`` points, ``x`` a cost, ``y`` a quality."""

    name: str
    x: str
    y: str
    points: list[tuple[float, float, str]] = field(default_factory=list)
    y_higher_is_better: bool = True


def bytes_series(label: str, result: RunResult, metric: str) -> Series | None:
    """Quality after each round (or each stage that moved bytes) against cumulative bytes on the wire."""
    series = Series(label, "bytes", metric, y_higher_is_better=higher_is_better(metric))
    total = 0.0
    if any("bytes_down" in r or "bytes_up" in r for r in result.rounds):
        for record in result.rounds:
            total += float(record.get("bytes_down", 0)) + float(record.get("bytes_up", 0))
            if finite_number(record.get(metric)):
                series.points.append((total, float(record[metric]), f"round {record.get('round', '?')}"))
    else:
        for stage in result.stages:
            moved = float(stage.bytes_down) + float(stage.bytes_up)
            total += moved
            if moved > 0 and finite_number(stage.metrics.get(metric)):
                series.points.append((total, float(stage.metrics[metric]), stage.stage))
    return series if series.points else None


def stage_rate_series(label: str, result: RunResult, metric: str) -> Series | None:
    """Stages that report a ``request_rate`` metric, as quality against request rate."""
    series = Series(label, "request_rate", metric, y_higher_is_better=higher_is_better(metric))
    for stage in result.stages:
        rate, value = stage.metrics.get("request_rate"), stage.metrics.get(metric)
        if finite_number(rate) and finite_number(value):
            series.points.append((float(rate), float(value), stage.stage))
    return series if series.points else None


def explicit_series(label: str, result: RunResult) -> list[Series]:
    """The run's own ``curves`` (already checked by :func:`tandem.report.load.check_result`)."""
    out = []
    for curve in result.curves:
        higher = bool(curve.get("y_higher_is_better", higher_is_better(curve["y"])))
        name = f"{label}: {curve['name']}" if curve.get("name") else label
        points = [(float(p["x"]), float(p["y"]), str(p.get("label", ""))) for p in curve["points"]
                  if finite_number(p["x"]) and finite_number(p["y"])]
        out.append(Series(name, curve["x"], curve["y"], points, higher))
    return out


def tradeoff_groups(runs: list[tuple[str, RunResult]]) -> dict[tuple[str, str], list[Series]]:
    """Every trade-off series of every run, grouped by ``(x, y)`` axes: one plot per group."""
    groups: dict[tuple[str, str], list[Series]] = {}
    for label, result in runs:
        metric = primary_metric(result)
        derived = []
        if metric is not None:
            derived = [bytes_series(label, result, metric), stage_rate_series(label, result, metric)]
        for series in [s for s in derived if s is not None] + explicit_series(label, result):
            groups.setdefault((series.x, series.y), []).append(series)
    return groups


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested configuration as ``{"a.b.c": value}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat
