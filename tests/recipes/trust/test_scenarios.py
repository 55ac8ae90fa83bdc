"""The trust recipe's config names a scenario; a bad one is a ConfigError before any work."""

from __future__ import annotations

import pytest

from tandem.core.errors import ConfigError
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.trust.scenarios import ScenarioConfig, run_config, scenario


def test_a_config_builds_its_scenario_and_runs() -> None:
    config = ScenarioConfig(n_clients=5, alpha=10.0, rounds=2)
    assert scenario(config).n_clients == 5
    strategy = get_strategy("fedavg", objective=LocalObjective(lr=0.05, epochs=1, batch_size=16))
    result = run_config(config, strategy)
    assert len(result.history) == 3 and 0.0 <= result.final() <= 1.0


def test_bad_scenarios_are_named() -> None:
    with pytest.raises(ConfigError, match="dataset"):
        ScenarioConfig(dataset="mnist")
    with pytest.raises(ConfigError, match="n_clients"):
        ScenarioConfig(n_clients=0)
