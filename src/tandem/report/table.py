"""Tables of a run's stages on the four axes (quality, bytes, latency, cloud cost), as plain text cells.

The library only formats numbers into cells (:class:`TextTable`); drawing them on a terminal is the CLI's job
(:mod:`tandem.recipes.tables`), so the library does not depend on rich.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class TextTable:
    """A table as plain text cells, for whichever front end draws it (the CLI draws rich tables from it)."""

    title: str
    columns: tuple[str, ...]
    right: tuple[bool, ...]
    """Per column: right-justified (numbers) or not."""
    rows: tuple[tuple[str, ...], ...]


def stage_rows(result: RunResult) -> TextTable:
    """One row per stage: direction, quality metrics, bytes down/up, latency p50/p95, cloud FLOPs/requests."""
    metric_names: list[str] = []
    for stage in result.stages:
        metric_names += [name for name in stage.metrics if name not in metric_names]
    tail = ("bytes down", "bytes up", "latency p50", "latency p95", "cloud FLOPs", "cloud req")
    columns = ("stage", "direction", *metric_names, *tail)
    rows = []
    for stage in result.stages:
        quality = [f"{stage.metrics[name]:.4f}" if name in stage.metrics else "" for name in metric_names]
        rows.append((
            stage.stage,
            stage.direction,
            *quality,
            human_bytes(stage.bytes_down),
            human_bytes(stage.bytes_up),
            human_seconds(stage.latency_p50_s),
            human_seconds(stage.latency_p95_s),
            human_count(stage.cloud_flops),
            f"{stage.cloud_requests:,}",
        ))
    return TextTable(
        title=f"tandem {result.kind}: quality, bytes, latency and cloud cost per stage",
        columns=columns,
        right=tuple(i >= 2 for i in range(len(columns))),
        rows=tuple(rows),
    )
