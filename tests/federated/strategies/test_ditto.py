"""Ditto: clients train personal models with lambda; the server aggregates the global model by FedAvg."""

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategies.ditto import Ditto
from tandem.federated.strategy import ClientResult, LocalObjective


def test_objective_carries_lambda():
    s = Ditto(lam=0.5, objective=LocalObjective(lr=0.01))
    plan = s.configure_round(3, {"w": torch.zeros(2)})
    assert plan.objective.ditto_lambda == 0.5 and plan.objective.lr == 0.01
    assert plan.server_state == {}


def test_aggregate_is_fedavg():
    s = Ditto()
    results = [
        ClientResult(client_id=4, n_examples=1, params={"w": torch.tensor([1.0])}),
        ClientResult(client_id=5, n_examples=4, params={"w": torch.tensor([6.0])}),
    ]
    # (1 * 1 + 4 * 6) / 5 = 5
    assert torch.equal(s.aggregate(1, {"w": torch.tensor([0.0])}, results)["w"], torch.tensor([5.0]))


def test_lambda_must_be_positive():
    with pytest.raises(ConfigError, match="lam"):
        Ditto(lam=0.0)
