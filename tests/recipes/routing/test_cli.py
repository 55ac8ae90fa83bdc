import json

import pytest
from typer.testing import CliRunner

from tandem.cli import app


@pytest.mark.slow
def test_route_split_writes_a_result(tmp_path) -> None:
    result = CliRunner().invoke(app, ["route", "split", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["max_abs_diff"] == 0.0
    assert (tmp_path / "routing-split.json").is_file()


def test_route_bench_rejects_bad_options(tmp_path) -> None:
    result = CliRunner().invoke(app, ["route", "bench", "--dataset", "nope", "--out", str(tmp_path), "--no-split"])
    assert result.exit_code == 2 and "--dataset: 'nope' is neither a built-in data set" in result.output
    result = CliRunner().invoke(app, ["route", "bench", "--rates", "a,b", "--out", str(tmp_path)])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["route", "bench", "--train-seconds", "0", "--out", str(tmp_path)])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["route", "bench", "--fusion-max-age", "-1", "--out", str(tmp_path)])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["route", "bench", "--fusion-age-fit", "sometimes", "--out", str(tmp_path),
                                      "--no-split"])
    assert result.exit_code == 2 and "--fusion-age-fit" in result.output
