"""``tandem fl run CONFIG``: YAML validated by pydantic, clear ConfigErrors, a run writes its metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tandem.core.errors import ConfigError
from tandem.recipes.fl.build import build_simulation
from tandem.recipes.fl.cli import fl_app
from tandem.recipes.fl.config import load_config


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rounds: 0\n", r"rounds: Input should be greater than or equal to 1 \(got 0\)"),
        ("clients: 5\nper_round: 10\n", r"per_round \(10\) exceeds clients \(5\)"),
        ("roundz: 3\n", r"roundz: Extra inputs are not permitted"),
        ("dataset:\n  name: mnist\n", r"dataset\.name: Input should be 'digits'"),
        ("partition:\n  alpha: -1\n", r"partition\.alpha: Input should be greater than 0"),
        ("resume: true\n", "resume needs checkpoint_dir"),
        ("rounds: [\n", "not valid YAML"),
        ("- 1\n- 2\n", "top level must be a mapping"),
    ],
)
def test_bad_config_is_a_clear_config_error(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_strategy_and_bad_kwargs(tmp_path):
    base = "dataset: {name: iris}\nclients: 4\nper_round: 2\n"
    config = load_config(_write(tmp_path, base + "strategy: {name: fedsgd}\n"))
    with pytest.raises(ConfigError, match=r"unknown strategy 'fedsgd'; available: .*fedavg"):
        build_simulation(config, progress=False)
    config = load_config(_write(tmp_path, base + "strategy: {name: fedavg, kwargs: {momentum: 0.9}}\n"))
    with pytest.raises(ConfigError, match=r"strategy\.kwargs for 'fedavg'"):
        build_simulation(config, progress=False)


def test_run_writes_metrics_and_resumes(tmp_path):
    out = tmp_path / "out.json"
    ckpt = tmp_path / "ckpt"
    base = (
        "dataset: {name: iris}\npartition: {kind: iid}\nclients: 6\nper_round: 3\n"
        "strategy: {name: scaffold}\nlocal: {lr: 0.1, batch_size: 4}\nmodel: {hidden: [8]}\n"
        f"output: {out}\ncheckpoint_dir: {ckpt}\n"
    )
    runner = CliRunner()
    first = runner.invoke(fl_app, ["run", str(_write(tmp_path, base + "rounds: 2\n")), "--no-progress"])
    assert first.exit_code == 0, first.output
    assert [r["round"] for r in json.loads(out.read_text())["rounds"]] == [0, 1, 2]
    resumed = runner.invoke(fl_app, ["run", str(_write(tmp_path, base + "rounds: 4\nresume: true\n")), "--json"])
    assert resumed.exit_code == 0, resumed.output
    body = json.loads(out.read_text())
    assert [r["round"] for r in body["rounds"]] == [0, 1, 2, 3, 4]
    assert body["config"]["strategy"] == "scaffold"


def test_cli_reports_errors_with_exit_code_2(tmp_path):
    result = CliRunner().invoke(fl_app, ["run", str(_write(tmp_path, "rounds: -3\n"))])
    assert result.exit_code == 2


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "fl").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_configs_are_valid(path):
    config = load_config(path)
    if config.runtime != "ray":
        sim = build_simulation(config, progress=False)
        assert sim.rounds == config.rounds and sim.clients_per_round == config.per_round
