"""The HTML report ``tandem demo`` writes beside its result JSON."""

from __future__ import annotations

from pathlib import Path

from tests.report.conftest import demo_result

from tandem.recipes.demo.report import write_demo_report
from tandem.report.results import write_result


def test_demo_report_goes_beside_the_json(tmp_path: Path) -> None:
    result_json = write_result(demo_result(), tmp_path / "tandem-results" / "demo.json")
    path = write_demo_report(result_json)
    assert path == tmp_path / "tandem-results" / "report.html"
    assert "tandem demo: cloud -&gt; device -&gt; cloud" in path.read_text()
