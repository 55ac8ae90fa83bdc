"""Robust aggregation rules on hand-computable cases, and the RobustAggregation wrapper's screening."""

from __future__ import annotations

import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.robust import (
    RobustAggregation,
    UpdateScreen,
    clip_rows,
    coordinate_median,
    krum,
    krum_scores,
    multikrum,
    trimmed_mean,
)
from tandem.federated.strategy import ClientResult, RoundPlan, get_strategy


def test_coordinate_median_odd_and_even():
    U = torch.tensor([[1.0, 10.0], [2.0, -5.0], [100.0, 0.0]])
    assert torch.equal(coordinate_median(U), torch.tensor([2.0, 0.0]))
    U4 = torch.tensor([[1.0], [2.0], [3.0], [100.0]])
    assert torch.equal(coordinate_median(U4), torch.tensor([2.5]))  # mean of the two middle values


def test_trimmed_mean_drops_extremes_per_coordinate():
    U = torch.tensor([[1.0, -50.0], [2.0, 2.0], [3.0, 4.0], [1000.0, 6.0]])
    # trim 1 each side: coordinate 0 keeps {2, 3} -> 2.5; coordinate 1 keeps {2, 4} -> 3
    assert torch.allclose(trimmed_mean(U, 1), torch.tensor([2.5, 3.0]))
    assert torch.allclose(trimmed_mean(U, 0), U.mean(0))
    with pytest.raises(ConfigError, match="2\\*trim < K"):
        trimmed_mean(U, 2)


def test_krum_scores_by_hand_and_selection():
    # points on a line: 0, 1, 2, 10 ; K=4, f=0 -> neighbours K-f-2 = 2
    U = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    # scores: 0 -> 1+4=5 ; 1 -> 1+1=2 ; 2 -> 1+4=5 ; 10 -> 64+81=145
    assert torch.allclose(krum_scores(U, 0), torch.tensor([5.0, 2.0, 5.0, 145.0], dtype=torch.float64))
    assert krum(U, 0) == 1
    assert multikrum(U, 0, 3) == [0, 1, 2]
    with pytest.raises(ConfigError, match="K > 2f \\+ 2"):
        krum(U, 1)


def test_clip_rows_bounds_norms_and_keeps_small_rows():
    U = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    C = clip_rows(U, 1.0)
    assert torch.allclose(C[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(C[1], U[1])
    with pytest.raises(ConfigError):
        clip_rows(U, 0.0)


def test_rules_reject_bad_stacks():
    with pytest.raises(ConfigError, match="\\[K, D\\]"):
        coordinate_median(torch.zeros(3))


def _res(cid, w, n=1):
    return ClientResult(cid, n, {"w": torch.tensor(w)})


def test_wrapper_median_ignores_an_outlier_and_delegates():
    params = {"w": torch.tensor([0.0, 0.0])}
    results = [_res(0, [1.0, 1.0]), _res(1, [2.0, 2.0]), _res(2, [1000.0, -1000.0])]
    new = RobustAggregation("fedavg", rule="median").aggregate(1, params, results)
    assert torch.equal(new["w"], torch.tensor([2.0, 1.0]))
    fedavg = get_strategy("fedavg").aggregate(1, params, results)
    assert fedavg["w"][0] > 300  # plain FedAvg is dragged away


def test_wrapper_krum_selects_and_records():
    params = {"w": torch.tensor([0.0])}
    results = [_res(i, [v]) for i, v in enumerate([0.0, 1.0, 2.0, 50.0, 60.0])]
    s = RobustAggregation("fedavg", rule="krum", n_byzantine=1)
    new = s.aggregate(1, params, results)
    assert s.selected_ == [1]
    assert torch.equal(new["w"], torch.tensor([1.0]))
    mk = RobustAggregation("fedavg", rule="multikrum", n_byzantine=1, multikrum_m=3)
    assert torch.allclose(mk.aggregate(1, params, results)["w"], torch.tensor([1.0]))


def test_wrapper_norm_clip_and_trimmed_mean():
    params = {"w": torch.tensor([0.0, 0.0])}
    results = [_res(0, [3.0, 4.0]), _res(1, [0.0, 0.0])]
    new = RobustAggregation("fedavg", rule="norm_clip", clip_norm=1.0).aggregate(1, params, results)
    assert torch.allclose(new["w"], torch.tensor([0.3, 0.4]))
    tm = RobustAggregation("fedavg", rule="trimmed_mean", trim_ratio=0.25)
    four = [_res(i, [v, v]) for i, v in enumerate([1.0, 2.0, 3.0, 1000.0])]
    assert torch.allclose(tm.aggregate(1, params, four)["w"], torch.tensor([2.5, 2.5]))


def test_hostile_updates_are_rejected_counted_never_aggregated():
    params = {"w": torch.tensor([0.0, 0.0])}
    results = [
        _res(0, [1.0, 1.0]),
        _res(1, [float("nan"), 0.0]),
        ClientResult(2, 1, {"w": torch.zeros(3)}),  # wrong shape
        ClientResult(3, 1, {"v": torch.zeros(2)}),  # wrong key
        _res(4, [1e9, 0.0]),  # absurd norm
    ]
    s = RobustAggregation("fedavg", rule="mean", max_norm=100.0)
    new = s.aggregate(1, params, results)
    assert torch.equal(new["w"], torch.tensor([1.0, 1.0]))
    assert [r["client"] for r in s.rejected_] == [1, 2, 3, 4]
    assert "NaN" in s.rejected_[0]["reason"] and "shape" in s.rejected_[1]["reason"]
    assert "norm" in s.rejected_[3]["reason"]
    with pytest.raises(ConfigError, match="every client reply was rejected"):
        s.aggregate(2, params, results[1:])


def test_update_screen_as_server_hook():
    params = {"w": torch.tensor([0.0, 0.0])}
    plan = RoundPlan(1, params, get_strategy("fedavg").objective)
    screen = UpdateScreen(max_norm=10.0)
    screen(_res(0, [1.0, 1.0]), plan)
    with pytest.raises(PayloadError, match="norm"):
        screen(_res(0, [100.0, 0.0]), plan)


def test_wrapper_config_errors_and_delegation():
    with pytest.raises(ConfigError, match="unknown rule"):
        RobustAggregation(rule="bogus")
    with pytest.raises(ConfigError, match="trim_ratio"):
        RobustAggregation(rule="trimmed_mean", trim_ratio=0.6)
    s = get_strategy("robust", inner="fedadam", rule="median")
    assert s.name == "fedadam+median"
    params = {"w": torch.tensor([0.0, 0.0])}
    s.initialize(params)
    plan = s.configure_round(1, params)
    assert plan.objective == s.inner.objective
    assert "inner" in s.state_dict()


def test_end_to_end_median_resists_sign_flipping_in_the_simulator():
    from tandem.federated.attacks import ModelPoisoning, malicious_clients
    from tandem.federated.strategy import LocalObjective
    from tandem.recipes.trust.scenarios import digits_scenario, run_scenario

    sc = digits_scenario(n_clients=10, alpha=10.0)
    bad = malicious_clients(10, 0.2)
    obj = LocalObjective(lr=0.05, epochs=2)
    acc = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny per-client tensors: extra OpenMP threads only contend on a shared machine
    try:
        for rule in ("mean", "median"):
            s = RobustAggregation(get_strategy("fedavg", objective=obj), rule=rule)
            acc[rule] = run_scenario(sc, s, rounds=4, hooks=[ModelPoisoning("sign_flip", bad)]).final()
    finally:
        torch.set_num_threads(threads)
    assert acc["median"] > acc["mean"] + 0.2


def test_wrapper_runs_behind_the_real_servers_round_loop():
    from tandem.federated.rounds import RoundLoop
    from tandem.federated.wire import decode_plan

    params = {"w": torch.tensor([0.0, 0.0])}
    driver = RoundLoop(RobustAggregation("fedavg", rule="median"))
    payload, meta = driver.plan_message(1, params)
    assert meta["round"] == 1 and torch.equal(decode_plan(payload).params["w"], params["w"])
    results = [_res(2, [1000.0, 0.0]), _res(0, [1.0, 1.0]), _res(1, [2.0, 2.0])]
    assert torch.equal(driver.aggregate(1, params, results)["w"], torch.tensor([2.0, 1.0]))


def test_norm_clip_to_the_median_norm():
    params = {"w": torch.tensor([0.0, 0.0])}
    results = [_res(0, [1.0, 0.0]), _res(1, [0.0, 2.0]), _res(2, [-300.0, -400.0])]
    s = RobustAggregation("fedavg", rule="norm_clip", clip_norm="median")
    # norms 1, 2, 500 -> bound 2: rows [1, 0], [0, 2], [-1.2, -1.6]; mean
    assert torch.allclose(s.aggregate(1, params, results)["w"], torch.tensor([-0.2 / 3, 0.4 / 3]))
    with pytest.raises(ConfigError, match="'median'"):
        RobustAggregation(rule="norm_clip", clip_norm="mean")
