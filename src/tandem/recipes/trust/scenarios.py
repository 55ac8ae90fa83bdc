"""Scenarios shared by the trust benchmarks (``benchmarks/trust_*.py``): real data, one simulator, hooks.

:func:`digits_scenario` (scikit-learn digits, MLP 64-64-10) and :func:`tabular_scenario` (UCI Adult or Bank,
one-hot + standardised by :class:`tandem.data.uci.TabularEncoder`, MLP d-32-2) split the training rows over
clients with :func:`tandem.data.partition.dirichlet_partition`; :func:`run_scenario` runs any strategy on
:class:`tandem.sim.FederatedSimulation` with client hooks (:class:`~tandem.federated.hooks.HookedRuntime`)
and optional label flipping on given clients. Nothing here is a new algorithm: it only wires the parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import PartitionedData
from tandem.data.partition import dirichlet_partition
from tandem.federated.attacks import flip_labels
from tandem.federated.hooks import ClientHook, HookedRuntime
from tandem.federated.strategy import Strategy
from tandem.models.mlp import build_mlp
from tandem.recipes._options import RecipeConfig
from tandem.sim.engine import ClassificationEval, FederatedResult, FederatedSimulation
from tandem.sim.runtime import make_runtime


class ScenarioConfig(RecipeConfig):
    """One trust scenario: the data set, how it is split over clients, and how long the run is."""

    dataset: Literal["digits", "adult", "bank"] = "digits"
    """scikit-learn digits, UCI Adult or UCI Bank (the UCI sets from ../shared/data)."""
    n_clients: int = Field(20, ge=1)
    """Clients the training rows are split over."""
    alpha: float = Field(1.0, gt=0)
    """Dirichlet concentration of the label skew (small: non-IID)."""
    max_rows: int | None = Field(12000, ge=1)
    """Subsample the tabular sets' training rows to this many (None: all)."""
    rounds: int = Field(30, ge=1)
    """Federated rounds."""
    clients_per_round: int | None = Field(None, ge=1)
    """Clients per round (None: every client)."""
    seed: int = 0
    """Seed of the split, the model and the run."""


@dataclass
class Scenario:
    """Training rows split over clients, a held-out test set and an initial model (seeded)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    parts: list[np.ndarray]
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    hidden: int
    seed: int = 0

    @property
    def n_clients(self) -> int:
        return len(self.parts)

    def model(self) -> nn.Module:
        torch.manual_seed(self.seed)
        return build_mlp([self.X.shape[1], self.hidden, self.n_classes])


def _split(x: np.ndarray, y: np.ndarray, test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 7]).permutation(len(y))
    n_test = round(test_share * len(y))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def digits_scenario(n_clients: int = 20, alpha: float = 1.0, seed: int = 0) -> Scenario:
    """scikit-learn digits (X/16), 25 % held out, Dirichlet(``alpha``) over ``n_clients``, MLP 64-64-10."""
    from tandem.recipes.peer.workload import load_digits_arrays

    X, y = load_digits_arrays()
    train, test = _split(X, y, 0.25, seed)
    parts = dirichlet_partition(y[train], n_clients, alpha, seed=seed, row_ids=np.arange(len(train)))
    return Scenario("digits", X[train], y[train], parts, X[test], y[test], 10, 64, seed)


def tabular_scenario(
    name: str = "adult", n_clients: int = 20, alpha: float = 1.0, seed: int = 0, max_rows: int | None = 12000
) -> Scenario:
    """UCI Adult (train/test files) or Bank (full, 25 % held out, ``duration`` dropped), MLP d-32-2.

    ``max_rows`` subsamples the training rows (seeded) to keep benchmarks lean on a shared 2-core machine.
    """
    from tandem.data.uci import TabularEncoder, load_adult, load_bank

    if name == "adult":
        train_ds, test_ds = load_adult(split="train"), load_adult(split="test")
        enc = TabularEncoder().fit(train_ds)
        tr, te = enc.transform(train_ds), enc.transform(test_ds)
        X, y, X_test, y_test = tr.X, tr.y, te.X, te.y
    elif name == "bank":
        ds = load_bank()
        enc = TabularEncoder(drop=("duration",)).fit(ds)
        arr = enc.transform(ds)
        train, test = _split(arr.X, arr.y, 0.25, seed)
        X, y, X_test, y_test = arr.X[train], arr.y[train], arr.X[test], arr.y[test]
    else:
        raise ConfigError(f"tabular_scenario: name must be 'adult' or 'bank', got {name!r}")
    if max_rows is not None and len(y) > max_rows:
        keep = np.sort(np.random.default_rng([seed, 11]).choice(len(y), max_rows, replace=False))
        X, y = X[keep], y[keep]
    parts = dirichlet_partition(y, n_clients, alpha, seed=seed, row_ids=np.arange(len(y)))
    return Scenario(
        name,
        X.astype(np.float32),
        y.astype(np.int64),
        parts,
        X_test.astype(np.float32),
        y_test.astype(np.int64),
        2,
        32,
        seed,
    )


def run_scenario(
    scenario: Scenario,
    strategy: Strategy,
    *,
    rounds: int = 30,
    clients_per_round: int | None = None,
    hooks: Sequence[ClientHook] = (),
    label_flip_clients: Sequence[int] = (),
    seed: int = 0,
) -> FederatedResult:
    """Run ``strategy`` on the scenario (batched runtime, every client each round by default)."""
    y = scenario.y
    if len(label_flip_clients):
        rows = np.concatenate([scenario.parts[c] for c in label_flip_clients])
        y = flip_labels(y, rows, scenario.n_classes)
    data = PartitionedData(scenario.X, y, scenario.parts)
    model = scenario.model()
    runtime = make_runtime("batched", model, data, seed=seed)
    if hooks:
        runtime = HookedRuntime(runtime, hooks)
    sim = FederatedSimulation(
        model,
        data,
        strategy,
        rounds=rounds,
        clients_per_round=clients_per_round or scenario.n_clients,
        runtime=runtime,
        evaluate=ClassificationEval(model, scenario.X_test, scenario.y_test),
        codec=None,
        seed=seed,
        progress=False,
    )
    return sim.run()


def scenario(config: ScenarioConfig) -> Scenario:
    """The scenario ``config`` describes."""
    if config.dataset == "digits":
        return digits_scenario(config.n_clients, config.alpha, config.seed)
    return tabular_scenario(config.dataset, config.n_clients, config.alpha, config.seed, config.max_rows)


def run_config(config: ScenarioConfig, strategy: Strategy, **kwargs: Any) -> FederatedResult:
    """Run ``strategy`` on the scenario ``config`` describes (``kwargs``: hooks, label_flip_clients)."""
    return run_scenario(scenario(config), strategy, rounds=config.rounds, clients_per_round=config.clients_per_round,
                        seed=config.seed, **kwargs)
