"""Matplotlib figures rendered to inline SVG strings for the self-contained HTML report.

Figures are built with matplotlib's object API (``Figure``, no pyplot), so no GUI backend and no
global figure list is involved. Text is drawn as paths (``svg.fonttype = "path"``), so the page
needs no fonts; every figure's element ids get their own prefix so several SVGs can share one page.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.rcsetup import cycler
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tandem.report.pareto import pareto_front
from tandem.report.summary import Series
from tandem.report.table import human_bytes

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

_counter = itertools.count()
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": cycler(color=matplotlib.color_sequences["tab10"]),
}
AXIS_NAMES = {"bytes": "bytes on the wire (cumulative)", "request_rate": "cloud request rate"}


def to_svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element: no XML prolog or metadata, every id prefixed to be unique on a page.

    Matplotlib names glyph and clip-path definitions by their content, so two figures on one page
    would otherwise define the same ids.
    """
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], flags=re.DOTALL)
    prefix = f"f{next(_counter)}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    return re.sub(r"(href=\"#|url\(#)", lambda m: m.group(1) + prefix, text)


def _axis_formatter(axis_name: str) -> Callable[[float, object], str] | None:
    return (lambda value, _pos: human_bytes(value)) if axis_name == "bytes" else None


def learning_curve(metric: str, lines: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> str:
    """``metric`` per round, one line per run: ``lines`` holds ``(run label, rounds, values)``."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.2, 3.2))
        ax = fig.subplots()
        for label, xs, ys in lines:
            ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, linewidth=1.5, label=label)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.set_xlabel("round")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per round")
        ax.legend(fontsize=8, frameon=False)
        return to_svg(fig)


def tradeoff(series: Sequence[Series]) -> tuple[str, list[tuple[str, float, float, str]]]:
    """Quality against a cost for every series, with the Pareto front over all their points marked.

    Returns the SVG and the front as ``(series name, x, y, point label)`` rows, lowest cost first.
    Lower ``x`` is better; higher ``y`` is better unless the series says otherwise.
    """
    x_name, y_name, higher = series[0].x, series[0].y, series[0].y_higher_is_better
    points = [(s.name, x, y, label) for s in series for x, y, label in s.points]
    front = [points[i] for i in pareto_front([(p[1], p[2]) for p in points], maximize=(False, higher))]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.6, 3.6))
        ax = fig.subplots()
        for s in series:
            xs, ys = [p[0] for p in s.points], [p[1] for p in s.points]
            ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.2, alpha=0.85, label=s.name)
        fx, fy = [p[1] for p in front], [p[2] for p in front]
        ax.step(fx, fy, where="post", color="black", linestyle="--", linewidth=1, label="Pareto front")
        ax.scatter(fx, fy, s=70, facecolors="none", edgecolors="black", linewidths=1.3, zorder=5)
        formatter = _axis_formatter(x_name)
        if formatter is not None:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.xaxis.set_major_formatter(FuncFormatter(formatter))
        ax.set_xlabel(AXIS_NAMES.get(x_name, x_name) + " (lower is better)")
        ax.set_ylabel(f"{y_name} ({'higher' if higher else 'lower'} is better)")
        ax.set_title(f"{y_name} vs {AXIS_NAMES.get(x_name, x_name).split(' (')[0]}")
        ax.legend(fontsize=8, frameon=False)
        return to_svg(fig), front


def tier_bars(column: str, runs: Sequence[tuple[str, dict[str, float]]]) -> str:
    """Grouped bars of one ``column`` per device tier, one colour per run: ``(run label, {tier: value})``."""
    tiers: list[str] = []
    for _, values in runs:
        tiers += [t for t in values if t not in tiers]
    width = 0.8 / max(len(runs), 1)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.2, 3.0))
        ax = fig.subplots()
        for k, (label, values) in enumerate(runs):
            xs = [i + k * width for i, t in enumerate(tiers) if t in values]
            ax.bar(xs, [values[t] for t in tiers if t in values], width=width, label=label)
        ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(tiers))], tiers)
        ax.set_ylabel(column)
        ax.set_title(f"{column} by device tier")
        ax.legend(fontsize=8, frameon=False)
        return to_svg(fig)
