"""Strategies take the local objective as plain keywords (lr, epochs, batch_size) and the population at initialize."""

import inspect

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategy import LocalObjective, Strategy, available_strategies, get_strategy

_REQUIRED = {"fedper": {"head_prefix": "2."}}
_WRAPPERS = {"robust", "central_dp", "secagg"}


@pytest.mark.parametrize("name", [n for n in available_strategies() if n not in _WRAPPERS])
def test_every_strategy_takes_the_objective_shorthands(name):
    s = get_strategy(name, lr=0.2, epochs=3, batch_size=8, **_REQUIRED.get(name, {}))
    assert (s.objective.lr, s.objective.epochs, s.objective.batch_size) == (0.2, 3, 8)
    assert "lr" in inspect.signature(type(s)).parameters  # help() and IDEs show them


def test_shorthands_merge_with_an_objective_and_keep_strategy_fields():
    from tandem.federated.strategies.fedprox import FedProx

    s = FedProx(mu=0.1, lr=0.3, objective=LocalObjective(epochs=2))
    assert (s.objective.lr, s.objective.epochs, s.objective.prox_mu) == (0.3, 2, 0.1)
    with pytest.raises(ConfigError, match=r"lr=0\.3 conflicts with objective\.lr=0\.2"):
        FedProx(lr=0.3, objective=LocalObjective(lr=0.2))


@pytest.mark.parametrize("bad", [{"lr": 0}, {"lr": float("nan")}, {"epochs": 0}, {"batch_size": 2.5}, {"epochs": True}])
def test_bad_shorthands_are_config_errors(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        get_strategy("fedavg", **bad)


def test_an_old_style_initialize_override_accepts_n_clients():
    class Counting(Strategy):
        name = ""  # not registered

        def initialize(self, params):
            self.seen = dict(params)

        def aggregate(self, rnd, params, results):
            return params

    s = Counting()
    s.initialize({"w": torch.zeros(1)}, n_clients=7)
    assert set(s.seen) == {"w"}


def test_wrappers_forward_the_population():
    s = get_strategy("robust", inner=get_strategy("scaffold"))
    s.initialize({"w": torch.zeros(1)}, n_clients=3)
    assert s.inner.n_clients_ == 3
