"""Terminal tables of a run's stages on the four axes: quality, bytes, latency, cloud cost."""

from __future__ import annotations

from rich.table import Table

from tandem.report.results import RunResult


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def human_seconds(s: float) -> str:
    """Seconds in the unit a person reads fastest (µs below a millisecond, ms below a second)."""
    if s == 0:
        return "0"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def human_count(n: float, unit: str = "") -> str:
    """``1.9e6`` -> ``'1.9 M'``: decimal SI prefixes for FLOPs and request counts."""
    if n == 0:
        return "0"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def stage_table(result: RunResult) -> Table:
    """One row per stage: direction, quality metrics, bytes down/up, latency p50/p95, cloud FLOPs/requests."""
    metric_names: list[str] = []
    for stage in result.stages:
        metric_names += [name for name in stage.metrics if name not in metric_names]
    table = Table(title=f"tandem {result.kind}: quality, bytes, latency and cloud cost per stage")
    table.add_column("stage")
    table.add_column("direction")
    for name in metric_names:
        table.add_column(name, justify="right")
    for column in ("bytes down", "bytes up", "latency p50", "latency p95", "cloud FLOPs", "cloud req"):
        table.add_column(column, justify="right")
    for stage in result.stages:
        quality = [f"{stage.metrics[name]:.4f}" if name in stage.metrics else "" for name in metric_names]
        table.add_row(
            stage.stage,
            stage.direction,
            *quality,
            human_bytes(stage.bytes_down),
            human_bytes(stage.bytes_up),
            human_seconds(stage.latency_p50_s),
            human_seconds(stage.latency_p95_s),
            human_count(stage.cloud_flops),
            f"{stage.cloud_requests:,}",
        )
    return table
