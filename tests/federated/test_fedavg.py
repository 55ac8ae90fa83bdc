"""FedAvg (McMahan et al. 2017): the example-weighted average, checked on numbers computed by hand."""

from __future__ import annotations

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategies.fedavg import FedAvg
from tandem.federated.strategy import ClientResult, LocalObjective, available_strategies, get_strategy


def _result(cid, n, w, b):
    return ClientResult(cid, n, {"w": torch.tensor(w), "b": torch.tensor([b])})


def test_weighted_by_examples_by_hand():
    params = {"w": torch.tensor([0.0, 0.0]), "b": torch.tensor([0.0])}
    results = [_result(0, 1, [1.0, 2.0], 4.0), _result(1, 3, [3.0, 6.0], 8.0)]
    new = FedAvg().aggregate(1, params, results)
    # (1 * [1, 2] + 3 * [3, 6]) / 4 = [2.5, 5.0];  (1 * 4 + 3 * 8) / 4 = 7
    assert torch.equal(new["w"], torch.tensor([2.5, 5.0]))
    assert torch.equal(new["b"], torch.tensor([7.0]))


def test_clients_without_examples_get_weight_zero():
    params = {"w": torch.tensor([9.0, 9.0]), "b": torch.tensor([9.0])}
    results = [_result(0, 0, [100.0, 100.0], 100.0), _result(1, 2, [1.0, 3.0], 5.0)]
    new = FedAvg().aggregate(1, params, results)
    assert torch.equal(new["w"], torch.tensor([1.0, 3.0]))
    assert torch.equal(new["b"], torch.tensor([5.0]))


def test_all_empty_round_is_an_error():
    params = {"w": torch.tensor([0.0, 0.0]), "b": torch.tensor([0.0])}
    with pytest.raises(ConfigError, match="0 examples"):
        FedAvg().aggregate(1, params, [_result(0, 0, [1.0, 1.0], 1.0)])


def test_registered_and_configurable():
    assert "fedavg" in available_strategies()
    strategy = get_strategy("fedavg", objective=LocalObjective(lr=0.05, batch_size=16))
    assert isinstance(strategy, FedAvg)
    plan = strategy.configure_round(1, {"w": torch.zeros(2)})
    assert plan.objective.lr == 0.05 and plan.server_state == {}
    with pytest.raises(ConfigError):
        FedAvg(objective=LocalObjective(control_variates=True))
