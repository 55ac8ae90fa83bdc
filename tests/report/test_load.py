"""Loading result files: both formats, and a clear error naming the file for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.core.errors import DataError, DataNotFoundError
from tandem.report.load import load_result, load_runs
from tandem.report.results import read_result, write_result

from .conftest import demo_result, federated_body, routing_result


def test_result_with_curves_and_tiers_round_trips(tmp_path: Path) -> None:
    path = write_result(routing_result(), tmp_path / "r.json")
    loaded = load_result(path)
    assert loaded.curves == routing_result().curves
    assert loaded.tiers[1]["tier"] == "iot"


def test_optional_fields_stay_out_of_files_that_do_not_use_them(tmp_path: Path) -> None:
    """A result without curves/tiers is written exactly as before they existed, so older readers keep working."""
    body = json.loads(write_result(demo_result(), tmp_path / "d.json").read_text())
    assert "curves" not in body and "tiers" not in body
    assert read_result(tmp_path / "d.json").curves == []


def test_federated_metrics_become_one_summary_stage(tmp_path: Path) -> None:
    path = tmp_path / "fedavg.json"
    path.write_text(json.dumps(federated_body("fedavg", [0.1, 0.3, 0.5], 1000)))
    result = load_result(path)
    assert result.kind == "federated" and len(result.rounds) == 3
    (stage,) = result.stages
    assert stage.stage == "device->cloud: fedavg (2 rounds)"
    assert stage.metrics["accuracy"] == 0.5 and "selected" not in stage.metrics
    assert (stage.bytes_down, stage.bytes_up) == (2000, 2000)
    assert stage.cloud_requests == 2 * (3 + 3)  # 4 selected - 1 offline downloads + 3 uploads, per round
    assert stage.latency_p50_s == pytest.approx(0.5)  # sim_time 0.5, 1.0: each round took 0.5 s
    assert result.config["settings"]["local"]["lr"] == 0.05


def test_labels_are_unique(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [write_result(demo_result(), tmp_path / d / "demo.json") for d in ("a", "b")]
    paths.append(write_result(demo_result(), tmp_path / "other.json"))
    assert [r.label for r in load_runs(paths)] == ["a/demo", "b/demo", "other"]
    same = f"{tmp_path.name}/other"
    assert [r.label for r in load_runs([paths[2], paths[2], paths[2]])] == [same, f"{same} (2)", f"{same} (3)"]


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _stage_metric_not_number(tmp_path: Path) -> Path:
    body = demo_result().to_dict()
    body["stages"][1]["metrics"]["hr@10"] = "high"
    return _write(tmp_path, "bad.json", json.dumps(body))


def _curve_point_missing(tmp_path: Path) -> Path:
    body = routing_result().to_dict()
    del body["curves"][0]["points"][2]["y"]
    return _write(tmp_path, "bad.json", json.dumps(body))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: _write(t, "bad.json", "{not json"), r"bad\.json: not valid JSON \(line 1, column 2\)"),
        (lambda t: _write(t, "bad.json", b"\xff\xfe\x00binary"), r"bad\.json: not a text file"),
        (lambda t: _write(t, "bad.json", '{"schema_version": 2}'), r"bad\.json: .*schema_version 1, found 2"),
        (lambda t: _write(t, "bad.json", "[1, 2]"), r"bad\.json: .*schema_version 1, found 'list'"),
        (lambda t: _write(t, "bad.json", '{"kind": "demo"}'), r"bad\.json: .*schema_version 1, found None"),
        (lambda t: _write(t, "bad.json", '{"schema_version": 1, "kind": "x", "config": {}, "colour": 1}'),
         r"bad\.json: result fields do not match"),
        (_stage_metric_not_number, r"bad\.json: stages\[1\]\.metrics\['hr@10'\] is 'high', expected a number"),
        (_curve_point_missing, r"bad\.json: curves\[0\]\.points\[2\]\.y is None, expected a number"),
        (lambda t: _write(t, "bad.json", '{"config": {}, "rounds": [{"round": "one"}]}'),
         r"bad\.json: federated metrics file has a malformed round record"),
        (lambda t: t, r"is a directory"),
    ],
)
def test_bad_input_names_the_file_and_the_problem(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_result(make(tmp_path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nope\.json: no such result file"):
        load_runs([write_result(demo_result(), tmp_path / "ok.json"), tmp_path / "nope.json"])
