"""One self-contained HTML report from one or more result files.

Everything the page needs is inside it: inline CSS, plots as inline SVG (text as paths), no scripts,
fonts or links to fetch, so it opens the same with no network. Every input is loaded and checked and
the whole page rendered in memory before anything is written; the file is then replaced atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from tandem import __version__
from tandem.core.errors import ConfigError
from tandem.report import context
from tandem.report.load import LoadedRun, load_runs
from tandem.report.template import CSS, TEMPLATE

DEFAULT_TITLE = "tandem report"

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_report(runs: list[LoadedRun], title: str = DEFAULT_TITLE) -> str:
    """The report page for already-loaded ``runs`` (see :func:`tandem.report.load.load_runs`) as HTML text."""
    if not runs:
        raise ConfigError("render_report: no runs to report")
    return _ENV.from_string(TEMPLATE).render(
        title=title,
        css=Markup(CSS),  # a <style> element is raw text: escaping would break its quotes
        version=__version__,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        runs=context.run_rows(runs),
        axes=context.axes_table(runs),
        config=context.config_table(runs),
        stages=context.stage_tables(runs),
        curves=context.learning_curves(runs),
        tradeoffs=context.tradeoff_sections(runs),
        tiers=context.tier_section(runs),
    )


def write_report(results: Sequence[str | Path], out: str | Path = "report.html", title: str = DEFAULT_TITLE) -> Path:
    """Load every result file, render the report and write it to ``out`` atomically; returns ``out``.

    Raises :class:`~tandem.core.errors.DataError` (or ``DataNotFoundError``) naming the bad file; then
    nothing is written and an existing ``out`` is left as it was.
    """
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"{out}: is a directory; give the report file's path, e.g. {out / 'report.html'}")
    page = render_report(load_runs(list(results)), title=title)
    return atomic_write_text(out, page)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
