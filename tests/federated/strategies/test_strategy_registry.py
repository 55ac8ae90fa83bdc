"""Every built-in strategy is registered by name and built with its defaults through get_strategy."""

import pytest

from tandem.federated.strategy import available_strategies, get_strategy

ALL = [
    "ditto",
    "fedadagrad",
    "fedadam",
    "fedavg",
    "fedavgm",
    "fedper",
    "fedprox",
    "fedyogi",
    "qfedavg",
    "scaffold",
]
KWARGS = {"scaffold": {"n_clients_total": 10}, "fedper": {"head_prefix": "2."}}


def test_all_ten_strategies_are_registered():
    assert set(ALL) <= set(available_strategies())


@pytest.mark.parametrize("name", ALL)
def test_get_strategy_builds_each(name):
    s = get_strategy(name, **KWARGS.get(name, {}))
    assert s.name == name
