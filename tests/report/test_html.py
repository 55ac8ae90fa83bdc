"""The HTML report: self-contained, every section present, atomic on bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tandem.core.errors import ConfigError, DataError
from tandem.report.context import config_table
from tandem.report.html import write_report
from tandem.report.load import load_runs


def test_report_is_self_contained(rendered_report: Path) -> None:
    page = rendered_report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # SVG clip paths refer to in-page ids only
    # the only URLs are XML namespace names inside the SVGs, which browsers never fetch
    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
                                                            "http://purl.org/dc/elements/1.1/",
                                                            "http://creativecommons.org/ns#",
                                                            "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
    assert not re.search(r"(src|href)=\"(?!#)", page)  # nothing to load: only in-page anchors


def test_report_has_every_section_and_plot(rendered_report: Path) -> None:
    page = rendered_report.read_text(encoding="utf-8")
    for section in ("runs", "axes", "config", "stages", "curves", "tradeoffs", "tiers"):
        assert f'<section id="{section}">' in page
    figures = re.findall(r'<figure class="plot" id="([^"]+)">\s*<svg', page)
    assert {"curve-hr-10", "curve-accuracy", "curve-loss", "curve-train-loss", "tradeoff-bytes-hr-10",
            "tradeoff-bytes-accuracy", "tradeoff-request-rate-hr-10", "tiers-hr-10"} <= set(figures)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids must be unique across the inlined SVGs"


def test_report_shows_key_numbers(rendered_report: Path) -> None:
    page = rendered_report.read_text(encoding="utf-8")
    assert ">0.2274<" in page  # demo's final hr@10
    assert ">0.7000<" in page and ">0.6100<" in page  # scaffold and fedavg final accuracy
    assert "8.1 MiB" in page  # demo bytes down: 5,136,600 + 3 x 1,136,400 = 8.15 MiB
    assert "device-&gt;cloud: scaffold (3 rounds)" in page
    assert 'id="config-diff"' in page  # the settings that differ are listed before all settings


def test_config_table_flags_the_settings_that_differ(result_files: list[Path]) -> None:
    table = config_table(load_runs(result_files[2:]))  # fedavg vs scaffold
    differing = [row["key"] for row in table["rows"] if row["differs"]]
    assert differing == ["strategy", "config_file", "settings.strategy.name"]
    assert table["differing"] == 3 and len(table["rows"]) == 9


def test_pareto_front_rows(rendered_report: Path) -> None:
    page = rendered_report.read_text(encoding="utf-8")
    start = page.index('id="tradeoff-request-rate-hr-10"')
    table = page[start:].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td>", table)
    # random's points are beaten by confidence at the same rate; routing's stage equals a confidence point
    # (equal points are both kept, in input order: the stage series comes before the explicit curves)
    assert [label for _, label in rows] == ["never", "budget 10%", "route: confidence @30%", "budget 30%", "always"]


def test_bad_input_writes_nothing_and_keeps_an_existing_report(result_files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    out.write_text("previous report")
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema_version": 1, "kind": "demo", "config": {}, "stages": [{"stage": 3}]}')
    with pytest.raises(DataError, match=r"broken\.json"):
        write_report([*result_files, bad], out)
    assert out.read_text() == "previous report"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temporary left behind


def test_out_must_not_be_a_directory(result_files: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        write_report(result_files[:1], tmp_path)
