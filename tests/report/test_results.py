import json

import pytest

from tandem.core.errors import ConfigError, DataError
from tandem.report.results import SCHEMA_VERSION, RunResult, StageRecord, read_result, require_finite, write_result
from tandem.report.table import human_bytes, human_count, human_seconds, stage_rows


def _result() -> RunResult:
    stage = StageRecord("cloud: train", "cloud", {"hr@10": 0.5}, bytes_down=2048, latency_p50_s=0.01)
    return RunResult(kind="demo", config={"seed": 0}, stages=[stage], rounds=[{"round": 0, "hr@10": 0.5}])


def test_round_trip_keeps_every_field(tmp_path):
    original = _result()
    back = read_result(write_result(original, tmp_path / "sub" / "r.json"))
    assert back.to_dict() == original.to_dict()
    assert back.stages[0].bytes_down == 2048 and back.schema_version == SCHEMA_VERSION


def test_wrong_schema_version_and_bad_json_name_the_file(tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(DataError, match=r"old\.json.*schema_version"):
        read_result(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match=r"broken\.json.*line 1"):
        read_result(broken)


def test_nan_is_refused_and_nothing_is_written(tmp_path):
    result = _result()
    result.stages[0].metrics["hr@10"] = float("nan")
    target = tmp_path / "r.json"
    with pytest.raises(ValueError):
        write_result(result, target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="hr@10"):
        require_finite(result.stages[0].metrics, "stage")


def test_human_units_and_table_columns():
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB" and human_bytes(3 << 20) == "3.0 MiB"
    assert human_seconds(0.0123) == "12.3 ms" and human_seconds(2.5) == "2.50 s"
    assert human_seconds(2e-6) == "2.0 µs" and human_seconds(0) == "0"
    assert human_count(1.9e6) == "1.9 M" and human_count(136e9) == "136.0 G" and human_count(12) == "12"
    table = stage_rows(_result())
    assert table.columns[:3] == ("stage", "direction", "hr@10") and "bytes down" in table.columns
    assert table.right[:3] == (False, False, True) and all(len(row) == len(table.columns) for row in table.rows)
