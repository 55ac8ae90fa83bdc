import json

from typer.testing import CliRunner

from tandem import __version__
from tandem.cli import app

runner = CliRunner()


def test_version():
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and __version__ in out.stdout


def test_demo_writes_json_and_prints_the_table(tmp_path):
    target = tmp_path / "demo.json"
    out = runner.invoke(app, ["demo", "--users", "100", "--devices-per-round", "10", "--rounds", "1",
                              "--out", str(target), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "cloud->device: int8 delivery" in out.stdout and str(target.name) in out.stdout
    assert (tmp_path / "report.html").stat().st_size > 1000 and "report.html" in out.stdout
    saved = json.loads(target.read_text())
    assert saved["kind"] == "demo" and len(saved["stages"]) == 6


def test_demo_json_mode_prints_machine_readable_output(tmp_path):
    out = runner.invoke(app, ["demo", "--users", "60", "--devices-per-round", "5", "--rounds", "1",
                              "--out", str(tmp_path / "d.json"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["config"]["n_users"] == 60


def test_demo_bad_config_exits_2_with_the_reason(tmp_path):
    out = runner.invoke(app, ["demo", "--users", "60", "--devices-per-round", "80", "--out", str(tmp_path / "x.json")])
    assert out.exit_code == 2
    assert "devices_per_round" in out.output
    assert not (tmp_path / "x.json").exists()


def test_datasets_json_lists_the_embedded_sets():
    out = runner.invoke(app, ["datasets", "--json", "--no-verify"])
    assert out.exit_code == 0, out.output
    names = {entry["name"] for entry in json.loads(out.stdout)}
    assert {"digits", "ml-100k", "beauty"} <= names  # the names --dataset takes
