"""FedProx: the proximal term goes to the clients; the server aggregates as FedAvg."""

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.aggregate import weighted_average
from tandem.federated.strategies.fedprox import FedProx
from tandem.federated.strategy import ClientResult, LocalObjective


def test_objective_carries_mu_and_keeps_the_rest():
    s = FedProx(mu=0.1, objective=LocalObjective(lr=0.2, epochs=3))
    plan = s.configure_round(1, {"w": torch.zeros(1)})
    assert plan.objective.prox_mu == 0.1
    assert plan.objective.lr == 0.2 and plan.objective.epochs == 3
    assert not plan.objective.control_variates


def test_aggregate_is_the_example_weighted_average():
    s = FedProx(mu=1.0)
    results = [
        ClientResult(client_id=0, n_examples=3, params={"w": torch.tensor([0.0, 2.0])}),
        ClientResult(client_id=1, n_examples=1, params={"w": torch.tensor([4.0, -2.0])}),
    ]
    out = s.aggregate(1, {"w": torch.tensor([9.0, 9.0])}, results)
    # (3 * [0, 2] + 1 * [4, -2]) / 4 = [1, 1]
    assert torch.equal(out["w"], torch.tensor([1.0, 1.0]))
    # bit-identical to the shared FedAvg rule
    assert torch.equal(out["w"], weighted_average([r.params for r in results], [3, 1])["w"])


def test_conflicting_objective_and_bad_mu():
    with pytest.raises(ConfigError, match="prox_mu"):
        FedProx(mu=0.1, objective=LocalObjective(prox_mu=0.5))
    with pytest.raises(ConfigError, match="mu"):
        FedProx(mu=-1.0)
    with pytest.raises(ConfigError, match="control_variates"):
        FedProx(objective=LocalObjective(control_variates=True))
    assert FedProx(mu=0.5, objective=LocalObjective(prox_mu=0.5)).objective.prox_mu == 0.5
