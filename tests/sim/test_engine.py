"""The simulation engine: checkpoint/resume, deadlines and dropouts, wire bytes, metrics JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategy import ClientResult, LocalObjective, get_strategy
from tandem.federated.wire import decode_result, encode_result
from tandem.fleet import FleetProfiles
from tandem.sim.engine import ClassificationEval, FederatedSimulation, run_federated
from tandem.sim.selection import ScheduleSelector, UniformSelector

from .conftest import make_mlp

OBJ = LocalObjective(lr=0.1, batch_size=8)
STRATEGIES = {
    "fedavg": {},
    "fedavgm": {},
    "fedadam": {},
    "scaffold": {"n_clients_total": 12},
    "fedper": {"head_prefix": "2."},
    "ditto": {"lam": 0.3},
    "qfedavg": {},
}


def _sim(data, name="fedavg", **kwargs):
    model = make_mlp()
    options = {
        "rounds": 4,
        "clients_per_round": 5,
        "evaluate": ClassificationEval(model, data.X, data.y),
        "progress": False,
        **kwargs,
    }
    return FederatedSimulation(model, data, get_strategy(name, objective=OBJ, **STRATEGIES[name]), **options)


def _assert_same_run(a, b):
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "wall_s"} for r in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_resume_gives_the_identical_result(name, small_data, tmp_path):
    full = _sim(small_data, name, rounds=6, checkpoint_dir=tmp_path / "full").run()
    _sim(small_data, name, rounds=3, checkpoint_dir=tmp_path / "cut").run()
    assert (tmp_path / "cut" / "checkpoint.pt").exists()
    resumed = _sim(small_data, name, rounds=6, checkpoint_dir=tmp_path / "cut").run(resume=True)
    _assert_same_run(full, resumed)


def test_resume_refuses_another_runs_checkpoint(small_data, tmp_path):
    _sim(small_data, rounds=2, checkpoint_dir=tmp_path).run()
    with pytest.raises(ConfigError, match="belongs to another run"):
        _sim(small_data, rounds=3, clients_per_round=4, checkpoint_dir=tmp_path).run(resume=True)


def _fleet(n, **overrides):
    arrays = {
        "compute_gflops": np.full(n, 1.0),
        "memory_mb": np.full(n, 4000.0),
        "uplink_mbps": np.full(n, 10.0),
        "downlink_mbps": np.full(n, 50.0),
        "rtt_ms": np.full(n, 20.0),
        "availability": np.full(n, 1.0),
    }
    for key, (idx, value) in overrides.items():
        arrays[key][idx] = value
    return FleetProfiles(tier=np.zeros(n, np.int16), **arrays, tier_names=("test",))


def test_deadline_drops_slow_clients(small_data):
    # client 4 computes far too slowly (dropped before training), client 7's uplink is far too slow
    # (trains, but its update lands after the deadline)
    fleet = _fleet(12, compute_gflops=(4, 1e-9), uplink_mbps=(7, 1e-4))
    everyone = ScheduleSelector([list(range(12))] * 2)
    result = _sim(small_data, rounds=2, clients_per_round=12, selector=everyone, fleet=fleet, deadline_s=5.0).run()
    for record in result.history[1:]:
        assert record["dropped"]["deadline"] == [4, 7]
        assert 4 not in record["completed"] and 7 not in record["completed"]
        assert len(record["completed"]) == 10
    assert result.history[-1]["sim_time_s"] == pytest.approx(10.0)  # both rounds waited for the deadline
    # the global model is exactly FedAvg over the clients that made it
    on_time = ScheduleSelector([[c for c in range(12) if c not in (4, 7)]] * 2)
    reference = _sim(small_data, rounds=2, clients_per_round=10, selector=on_time).run()
    for k in result.params:
        assert torch.equal(result.params[k], reference.params[k])


def test_round_time_comes_from_profiles_and_payload_bytes(small_data):
    fleet = _fleet(12)
    result = _sim(small_data, rounds=1, clients_per_round=12, selector=ScheduleSelector([list(range(12))]),
                  fleet=fleet, deadline_s=100.0).run()
    record = result.history[1]
    assert record["dropped"] == {"offline": [], "deadline": []}
    down = record["bytes_down"] / 12
    # slowest client: 40 examples x 3 x forward FLOPs at 1 GFLOP/s, plus both transfers
    flops = 40 * 3 * (2 * 8 * 16 + 16 + 2 * 16 * 4 + 4)
    up_max = 0.02 + 8 * record["bytes_up"] / 12 / 10e6  # uploads differ by a few header bytes
    expected = 0.02 + down * 8 / 50e6 + flops / 1e9 + up_max
    assert record["sim_time_s"] == pytest.approx(expected, rel=1e-3)


def test_dropout_takes_clients_offline(small_data):
    result = _sim(small_data, rounds=3, clients_per_round=12, dropout=0.5).run()
    offline = [c for r in result.history[1:] for c in r["dropped"]["offline"]]
    assert 0 < len(offline) < 36
    for r in result.history[1:]:
        assert set(r["completed"]).isdisjoint(r["dropped"]["offline"])


def test_every_payload_crosses_the_transport_and_fp32_is_lossless(small_data):
    wired = _sim(small_data, rounds=2).run()
    default = _sim(small_data, rounds=2, codec=None).run()  # None means the lossless fp32 codec
    half = _sim(small_data, rounds=2, codec="fp16").run()
    for k in wired.params:
        assert torch.equal(wired.params[k], default.params[k])
    record = wired.history[1]
    n_floats = sum(v.numel() for v in wired.params.values())
    assert record["bytes_up"] > 5 * 4 * n_floats  # five payloads of 4-byte floats plus headers
    assert record["bytes_down"] > 5 * 4 * n_floats
    assert half.history[1]["bytes_up"] < 0.75 * record["bytes_up"]  # headers weigh on a tiny model
    assert any(not torch.equal(wired.params[k], half.params[k]) for k in wired.params)


def test_results_travel_losslessly_in_fp32_and_approximately_in_fp16():
    params = {"a": torch.randn(3, 4), "b": torch.randn(5)}
    delta = {"a": torch.randn(3, 4), "b": torch.randn(5)}
    result = ClientResult(7, 12, params, loss_before=0.5, extra={"delta_c": delta})
    update = encode_result(3, result)
    assert update.n_bytes > 4 * 2 * 17
    decoded = decode_result(update)
    assert decoded.client_id == 7 and decoded.n_examples == 12 and decoded.loss_before == 0.5
    for k in params:
        assert torch.equal(decoded.params[k], params[k])
        assert torch.equal(decoded.extra["delta_c"][k], delta[k])
    half = decode_result(encode_result(3, result, codec="fp16"))
    torch.testing.assert_close(half.params["a"], params["a"], rtol=1e-3, atol=1e-3)
    assert not torch.equal(half.params["a"], params["a"])


def test_metrics_json_written_every_round(small_data, tmp_path):
    path = tmp_path / "metrics.json"
    result = _sim(small_data, rounds=3, metrics_path=path).run()
    body = json.loads(path.read_text())
    assert [r["round"] for r in body["rounds"]] == [0, 1, 2, 3]
    assert body["rounds"][-1]["accuracy"] == result.final()
    assert body["config"]["strategy"] == "fedavg"


def test_local_accuracy_of_personal_models(small_data):
    from tandem.data.clients import PartitionedData

    parts = [p[: len(p) // 2] for p in small_data.parts]
    held = [p[len(p) // 2 :] for p in small_data.parts]
    data = PartitionedData(small_data.X, small_data.y, parts, eval_parts=held)
    result = _sim(data, "ditto", rounds=2).run()
    assert 0.0 <= result.history[-1]["local_accuracy"] <= 1.0


def test_run_federated_and_uniform_selection(small_data):
    result = run_federated(make_mlp(), small_data, get_strategy("fedavg", objective=OBJ), rounds=2,
                           clients_per_round=4, selector=UniformSelector(3), progress=False)
    rng = np.random.default_rng(3)
    for record in result.history[1:]:
        assert record["selected"] == sorted(rng.choice(12, 4, replace=False).tolist())


def test_progress_bar_runs(small_data):
    assert _sim(small_data, rounds=1, progress=True).run().final() >= 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 0}, "rounds must be >= 1"),
        ({"clients_per_round": 13}, "clients_per_round must be in 1..12"),
        ({"deadline_s": 3.0}, "needs a fleet"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"runtime": "gpu"}, "unknown runtime 'gpu'"),
    ],
)
def test_bad_arguments_are_config_errors(small_data, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _sim(small_data, **kwargs)


def test_fleet_must_cover_the_population(small_data):
    with pytest.raises(ConfigError, match="the fleet has 5 devices for 12 clients"):
        _sim(small_data, fleet=_fleet(5), deadline_s=1.0)


def test_decode_of_broadcast_is_what_clients_train_on(small_data):
    # int8 downloads change what clients start from, so the run differs from the lossless one
    lossy = _sim(small_data, rounds=1, codec="int8").run()
    exact = _sim(small_data, rounds=1).run()
    assert not torch.equal(lossy.params["0.weight"], exact.params["0.weight"])
    payload_sizes = lossy.history[1]["bytes_up"] / 5
    assert payload_sizes < exact.history[1]["bytes_up"] / 5 / 2
