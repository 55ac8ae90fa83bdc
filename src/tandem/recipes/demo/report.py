"""The HTML report ``tandem demo`` writes beside its result JSON."""

from __future__ import annotations

from pathlib import Path

from tandem.report.html import write_report

REPORT_NAME = "report.html"


def write_demo_report(result_json: str | Path, out: str | Path | None = None) -> Path:
    """Render the report of one written result file; by default ``report.html`` in the same folder.

    Call it after ``write_result`` so the page shows exactly what the JSON holds. Returns the path
    written; raises :class:`~tandem.core.errors.TandemError` (nothing written) if the file is bad.
    """
    result_json = Path(result_json)
    target = Path(out) if out is not None else result_json.with_name(REPORT_NAME)
    return write_report([result_json], target, title="tandem demo: cloud -> device -> cloud")
