"""The report's content as plain data for the template: tables as formatted strings, plots as SVG."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from markupsafe import Markup

from tandem.report import plots
from tandem.report.load import LoadedRun
from tandem.report.summary import (
    finite_number,
    flatten_config,
    headline,
    higher_is_better,
    is_quality,
    primary_metric,
    quality_metrics,
    tradeoff_groups,
)
from tandem.report.table import human_bytes, human_seconds

MAX_CURVES = 8
COST_COLUMNS = ("bytes down", "bytes up", "latency p50", "latency p95", "cloud GFLOP", "cloud requests")


class AxesCell(TypedDict):
    """One cell of the axes table: the text shown, the exact value (hover title), the number compared, best?"""

    text: str
    exact: float | str
    value: float | None
    best: bool


class AxesRow(TypedDict):
    label: str
    cells: list[AxesCell]


def fmt(value: Any, name: str = "") -> str:
    """A number the way a person reads it: bytes in KiB/MiB, seconds in ms/s, counts with commas."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = "—" if value is None else str(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if name.endswith("bytes") or name.startswith("bytes"):
        return human_bytes(value)
    if name.endswith("_s"):
        return human_seconds(value)
    if isinstance(value, int) or (float(value).is_integer() and not is_quality(name)):
        return f"{int(value):,}"  # counts and sizes, even when stored as floats
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.4f}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def run_rows(runs: list[LoadedRun]) -> list[dict[str, Any]]:
    """The runs table: one row per result file."""
    return [
        {"label": r.label, "kind": r.result.kind, "path": str(r.path), "created": r.result.created_at or "—",
         "wall": human_seconds(r.result.wall_clock_s), "rounds": headline(r.result).rounds,
         "version": r.result.tandem_version}
        for r in runs
    ]


def axes_table(runs: list[LoadedRun]) -> dict[str, Any]:
    """Runs as rows, final quality metrics then the cost axes as columns; best quality highlighted."""
    heads = [headline(r.result) for r in runs]
    metrics: list[str] = []
    for h in heads:
        metrics += [m for m in h.quality if m not in metrics]
    rows: list[AxesRow] = []
    for run, h in zip(runs, heads, strict=True):
        costs = [(human_bytes(h.bytes_down), h.bytes_down), (human_bytes(h.bytes_up), h.bytes_up),
                 (_latency(h.latency_p50_s), h.latency_p50_s), (_latency(h.latency_p95_s), h.latency_p95_s),
                 (f"{h.cloud_flops / 1e9:,.2f}", h.cloud_flops), (f"{h.cloud_requests:,}", h.cloud_requests)]
        cells: list[AxesCell] = [{"text": fmt(h.quality[m]) if m in h.quality else "—",
                                  "exact": h.quality.get(m, ""), "value": h.quality.get(m), "best": False}
                                 for m in metrics]
        cells += [{"text": text, "exact": exact, "value": None, "best": False} for text, exact in costs]
        rows.append({"label": run.label, "cells": cells})
    for k, metric in enumerate(metrics):
        values = [v for row in rows if (v := row["cells"][k]["value"]) is not None]
        if len(values) >= 2:
            best = max(values) if higher_is_better(metric) else min(values)
            for row in rows:
                row["cells"][k]["best"] = row["cells"][k]["value"] == best
    return {"columns": [*metrics, *COST_COLUMNS], "rows": rows}


def _latency(seconds: float) -> str:
    return human_seconds(seconds) if seconds > 0 else "—"  # no stage simulated a device latency


def _setting(value: Any) -> str:
    """A configuration value as written: ``0.05`` not ``0.0500``, ``none`` for null."""
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else fmt(value)


def config_table(runs: list[LoadedRun]) -> dict[str, Any]:
    """Every setting (flattened, ``a.b.c``) against every run; flagged where runs that have it disagree."""
    flats = [flatten_config(r.result.config) for r in runs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    rows = []
    for key in keys:
        values = [_setting(flat[key]) if key in flat else "—" for flat in flats]
        present = {value for value, flat in zip(values, flats, strict=True) if key in flat}
        rows.append({"key": key, "cells": values, "differs": len(present) > 1})
    return {"rows": rows, "differing": sum(row["differs"] for row in rows)}


def stage_tables(runs: list[LoadedRun]) -> list[dict[str, Any]]:
    """Per run: one row per stage with every metric and the four axes."""
    tables = []
    for run in runs:
        stages = run.result.stages
        if not stages:
            continue
        names: list[str] = []
        for stage in stages:
            names += [n for n in stage.metrics if n not in names]
        rows = [[s.stage, s.direction, *(fmt(s.metrics[n], n) if n in s.metrics else "" for n in names),
                 human_bytes(s.bytes_down), human_bytes(s.bytes_up), human_seconds(s.latency_p50_s),
                 human_seconds(s.latency_p95_s), f"{s.cloud_flops / 1e9:,.2f}", f"{s.cloud_requests:,}", s.notes]
                for s in stages]
        tables.append({"label": run.label, "columns": ["stage", "direction", *names, *COST_COLUMNS, "notes"],
                       "rows": rows})
    return tables


def learning_curves(runs: list[LoadedRun]) -> list[dict[str, Any]]:
    """One plot per quality metric found in per-round records, a line per run."""
    metrics: list[str] = []
    for run in runs:
        metrics += [m for m in quality_metrics(run.result) if m not in metrics]
    figures: list[dict[str, Any]] = []
    for metric in metrics:
        lines = []
        for run in runs:
            points = [(r["round"], r[metric]) for r in run.result.rounds
                      if finite_number(r.get("round")) and finite_number(r.get(metric))]
            if len(points) >= 2:
                lines.append((run.label, [p[0] for p in points], [p[1] for p in points]))
        if lines and len(figures) < MAX_CURVES:
            caption = f"{metric} after each round ({', '.join(line[0] for line in lines)}); round 0 = before training"
            figures.append({"id": f"curve-{_slug(metric)}", "svg": Markup(plots.learning_curve(metric, lines)),
                            "caption": caption})
    return figures


def tradeoff_sections(runs: list[LoadedRun]) -> list[dict[str, Any]]:
    """Quality-vs-bytes, quality-vs-request-rate and any other recorded trade-off, Pareto front marked."""
    groups = tradeoff_groups([(r.label, r.result) for r in runs])
    sections: list[dict[str, Any]] = []
    for x_name in ["bytes", "request_rate", *sorted({x for x, _ in groups} - {"bytes", "request_rate"})]:
        matching = [(key, series) for key, series in groups.items() if key[0] == x_name]
        axis = plots.AXIS_NAMES.get(x_name, x_name).split(" (")[0]
        if not matching:
            sections.append({"title": f"Quality vs {axis}", "svg": None,
                             "caption": f"None of these results records quality against {axis}."})
        for (x, y), series in matching:
            svg, front = plots.tradeoff(series)
            rows = [{"series": s, "x": fmt(px, x), "y": fmt(py), "label": label} for s, px, py, label in front]
            sections.append({"title": f"{y} vs {axis}", "id": f"tradeoff-{_slug(x)}-{_slug(y)}", "svg": Markup(svg),
                             "front": rows, "x_name": x, "y_name": y,
                             "caption": f"{sum(len(s.points) for s in series)} points, {len(front)} on the front"})
    return sections


def tier_section(runs: list[LoadedRun]) -> dict[str, Any]:
    """Per-tier tables for every run that has them, and bar charts comparing runs per tier."""
    with_tiers = [r for r in runs if r.result.tiers]
    tables = []
    for run in with_tiers:
        columns = ["tier", "devices"]
        for row in run.result.tiers:
            columns += [c for c in row if c not in columns]
        rows = [[fmt(row.get(c), c) if c in row else "" for c in columns] for row in run.result.tiers]
        tables.append({"label": run.label, "columns": columns, "rows": rows})
    figures = []
    for column in _tier_plot_columns(with_tiers):
        data = [(r.label, {t["tier"]: float(t[column]) for t in r.result.tiers
                           if isinstance(t.get(column), int | float)}) for r in with_tiers]
        data = [(label, values) for label, values in data if values]
        if data:
            figures.append({"id": f"tiers-{_slug(column)}", "svg": Markup(plots.tier_bars(column, data)),
                            "caption": f"{column} per device tier"})
    return {"tables": tables, "figures": figures}


def _tier_plot_columns(runs: list[LoadedRun]) -> list[str]:
    """The runs' primary quality metric and the first latency column, where the tier rows have them."""
    columns = {c for r in runs for row in r.result.tiers for c in row}
    picks = [m for m in dict.fromkeys(primary_metric(r.result) for r in runs) if m in columns]
    picks += [c for c in sorted(columns) if is_quality(c) and c not in picks and c not in {"tier", "devices"}][:1]
    picks += sorted(c for c in columns if c.startswith("latency"))[:1]
    return picks[:3]
