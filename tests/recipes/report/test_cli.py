"""``tandem report``: result files in, one HTML page out; a bad file is named and nothing is written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tandem.recipes.report.cli import report_app

runner = CliRunner()


def test_report_command_writes_the_page(result_files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "site" / "cmp.html"
    got = runner.invoke(report_app, [*map(str, result_files[2:]), "--out", str(out), "--title", "FedAvg vs SCAFFOLD"])
    assert got.exit_code == 0, got.output
    assert f"report written to {out}" in got.output
    page = out.read_text()
    assert "<title>FedAvg vs SCAFFOLD</title>" in page and page.count("<svg") >= 4


def test_report_command_names_the_bad_file_and_writes_nothing(result_files: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "v9.json"
    bad.write_text('{"schema_version": 9}')
    out = tmp_path / "report.html"
    got = runner.invoke(report_app, [str(result_files[0]), str(bad), "--out", str(out)])
    assert got.exit_code == 2
    assert "v9.json" in got.output and "schema_version 1, found 9" in got.output
    assert not out.exists()


def test_report_command_needs_a_file() -> None:
    got = runner.invoke(report_app, [])
    assert got.exit_code == 2 and "Missing argument" in got.output
