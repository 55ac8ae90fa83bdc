"""Simulation equals deployment: the same config run in process and over HTTP (a real server process and real
device-agent processes on loopback) ends with the same parameters and metrics, for FedAvg, FedProx and SCAFFOLD."""

from __future__ import annotations

import json

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.recipes._options import build_config
from tandem.recipes.fl.build import build_simulation
from tandem.recipes.fl.config import FLConfig
from tandem.recipes.fl.deploy import run_over_http

SMALL = {
    "dataset": {"name": "digits"},
    "partition": {"kind": "dirichlet", "alpha": 0.5},
    "clients": 8,
    "per_round": 5,
    "rounds": 3,
    "local": {"lr": 0.1, "epochs": 1, "batch_size": 16},
    "model": {"hidden": [32]},
    "seed": 3,
}


@pytest.mark.parametrize(
    ("strategy", "kwargs"), [("fedavg", {}), ("fedprox", {"mu": 0.1}), ("scaffold", {})]
)
def test_in_process_and_http_runs_end_with_the_same_model(tmp_path, strategy, kwargs) -> None:
    base = {**SMALL, "strategy": {"name": strategy, "kwargs": kwargs}}
    in_process = build_simulation(
        FLConfig(**base, output=tmp_path / "sim.json"), progress=False
    ).run()
    http_config = FLConfig(**base, transport="http", agents=2, output=tmp_path / "http.json", round_timeout_s=60)
    over_http = run_over_http(http_config, progress=False, keep_dir=tmp_path / "deploy")
    assert set(over_http.params) == set(in_process.params)
    worst = max(float((over_http.params[k] - in_process.params[k]).abs().max()) for k in in_process.params)
    assert worst <= 1e-6, f"{strategy}: parameters differ by {worst}"
    for sim_round, http_round in zip(in_process.history, over_http.history, strict=True):
        assert http_round["round"] == sim_round["round"]
        assert http_round.get("selected") == sim_round.get("selected")
        assert sorted(http_round.get("completed", [])) == sorted(sim_round.get("completed", []))
        assert http_round["accuracy"] == pytest.approx(sim_round["accuracy"], abs=1e-6)
        assert http_round["loss"] == pytest.approx(sim_round["loss"], abs=1e-5)
    assert over_http.history[-1]["bytes_up"] > 0
    logs = [p.read_text() for p in (tmp_path / "deploy").glob("agent-*.log")]
    assert len(logs) == 2 and all("answered round" in text for text in logs)
    body = json.loads((tmp_path / "http.json").read_text()) if (tmp_path / "http.json").exists() else None
    assert body is None or body["rounds"][-1]["round"] == 3


def test_http_transport_refuses_what_it_cannot_run() -> None:
    with pytest.raises(ConfigError, match="transport http"):
        build_config(FLConfig, {"transport": "http"}, base={**SMALL, "fleet": {"deadline_s": 1.0}})
    with pytest.raises(ConfigError, match="transport http"):
        build_config(FLConfig, {"transport": "http", "runtime": "ray"}, base=SMALL)


def test_device_app_spec_errors_are_clear() -> None:
    from tandem.federated.app import load_app

    with pytest.raises(ConfigError, match=r"package\.module:object"):
        load_app("no_colon")
    with pytest.raises(ConfigError, match="cannot import"):
        load_app("tandem.no_such_module:x")
    with pytest.raises(ConfigError, match="no attribute"):
        load_app("tandem.recipes.fl.app:nope")
    with pytest.raises(ConfigError, match=r"gave a str, not a tandem\.federated\.ClientApp"):
        load_app("json:dumps", {"obj": "x"})  # a function that gives something else


def test_same_model_on_the_agents_as_in_the_cloud(tmp_path) -> None:
    from tandem.recipes.fl.app import client_app
    from tandem.recipes.fl.build import build_task

    config = FLConfig(**SMALL, output=tmp_path / "x.json")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config.model_dump(mode="json", exclude_defaults=True)))
    app, task = client_app(str(path)), build_task(config)
    for key, value in task.model.state_dict().items():
        assert torch.equal(app.model.state_dict()[key], value)
    assert app.data.n_clients == 8 and app.seed == 3
