"""The peer baseline workload (``shared/peers/workload.json``) as a scenario: digits MLP, Dirichlet(0.5), FedAvg.

:func:`load_peer_workload` reads the materialised partition, schedule and initial weights from the
peers folder (given by the caller; the library reads no environment) and the digits set that ships
with scikit-learn; :func:`run_peer_workload` runs it on the engine; :func:`plain_reference_loop` runs it
as a plain PyTorch loop (``nn.Module`` + ``torch.optim.SGD``, one client after another), the
independent reference the engine's curve is checked against.

Configs (workload.json ``federated.configs``): ``main`` = 100 clients, 10 per round, 50 rounds;
``large`` = 1000 clients, 100 per round, 10 rounds. Published reference: final accuracy 0.7028 on
``main`` (Flower 1.41 and the plain loop agree).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from tandem.core.errors import ConfigError, DataNotFoundError
from tandem.data.clients import PartitionedData
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.models.mlp import build_mlp
from tandem.recipes._options import RecipeConfig
from tandem.sim.engine import ClassificationEval, FederatedResult, FederatedSimulation
from tandem.sim.selection import ScheduleSelector

PEER_CONFIGS = {"main": "100", "large": "1000"}
REFERENCE_FINAL_ACCURACY = {"main": 0.7028}
LOCAL = LocalObjective(lr=0.05, epochs=1, batch_size=16)
"""The clients' local step, as workload.json fixes it (part of the workload's definition, not a knob)."""


class PeerConfig(RecipeConfig):
    """Which peer workload to run and how (the workload itself is fixed by ``workload.json``)."""

    peers_dir: str = "../shared/peers"
    """Folder with workload.json, partition.json, schedule.json and init_weights.json."""
    config: Literal["main", "large"] = "main"
    """main: 100 clients, 10 per round, 50 rounds; large: 1000 clients, 100 per round, 10 rounds."""
    runtime: Literal["auto", "batched", "sequential"] = "batched"
    """How the engine runs the clients' local training."""
    rounds: int | None = Field(None, ge=1)
    """Run only the first rounds of the schedule (None: all of them)."""


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``X / 16`` float32 and int64 labels, in ``load_digits()`` row order.

    Reads the CSV that ships inside scikit-learn directly (what ``load_digits`` parses), which saves the
    second it takes to import ``sklearn.datasets``; falls back to ``load_digits`` if the file moved.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.exists():
        with gzip.open(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",")
        X, y = data[:, :-1], data[:, -1].astype(np.int64)
    else:  # pragma: no cover - depends on the installed scikit-learn
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


@dataclass
class PeerWorkload:
    """One config of the peer workload, fully materialised."""

    config: str
    X: np.ndarray
    y: np.ndarray
    test_rows: np.ndarray
    clients: list[np.ndarray]
    schedule: list[list[int]]
    init_state: dict[str, torch.Tensor]

    @property
    def rounds(self) -> int:
        return len(self.schedule)

    @property
    def clients_per_round(self) -> int:
        return len(self.schedule[0])

    def model(self) -> nn.Module:
        """The MLP with the published initial weights."""
        model = build_mlp([64, 64, 10])
        model.load_state_dict(self.init_state)
        return model


def load_peer_workload(peers_dir: str | Path, config: str = "main") -> PeerWorkload:
    """Read ``partition.json``, ``schedule.json`` and ``init_weights.json`` of ``config`` from ``peers_dir``."""
    if config not in PEER_CONFIGS:
        raise ConfigError(f"peer workload config {config!r} unknown; choose one of {sorted(PEER_CONFIGS)}")
    root = Path(peers_dir)
    files = {name: root / f"{name}.json" for name in ("partition", "schedule", "init_weights")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise DataNotFoundError(f"peer workload files not found: {', '.join(missing)}")
    loaded: dict[str, Any] = {name: json.loads(p.read_text()) for name, p in files.items()}
    key = PEER_CONFIGS[config]
    X, y = load_digits_arrays()
    init = {k: torch.tensor(v, dtype=torch.float32) for k, v in loaded["init_weights"]["state_dict"].items()}
    return PeerWorkload(
        config=config,
        X=X,
        y=y,
        test_rows=np.asarray(loaded["partition"]["test_indices"], dtype=np.int64),
        clients=[np.asarray(c, dtype=np.int64) for c in loaded["partition"]["clients"][key]],
        schedule=loaded["schedule"][key],
        init_state=init,
    )


def peer_simulation(workload: PeerWorkload, **kwargs: Any) -> FederatedSimulation:
    """The engine set up for the workload (FedAvg, replayed schedule); ``kwargs`` go to the simulation."""
    model = workload.model()
    data = PartitionedData(workload.X, workload.y, workload.clients)
    evaluate = ClassificationEval(model, workload.X[workload.test_rows], workload.y[workload.test_rows])
    options: dict[str, Any] = {"runtime": "batched", "progress": False, **kwargs}
    return FederatedSimulation(
        model,
        data,
        get_strategy("fedavg", objective=LOCAL),
        rounds=workload.rounds,
        clients_per_round=workload.clients_per_round,
        selector=ScheduleSelector(workload.schedule),
        evaluate=evaluate,
        **options,
    )


def run_peer_workload(workload: PeerWorkload, **kwargs: Any) -> FederatedResult:
    """Run the workload on the engine and return its result (accuracy per round in ``history``)."""
    return peer_simulation(workload, **kwargs).run()


def run_peer(config: PeerConfig | None = None) -> FederatedResult:
    """Load and run the workload ``config`` names."""
    config = config or PeerConfig()
    workload = load_peer_workload(config.peers_dir, config.config)
    if config.rounds is not None:
        workload.schedule = workload.schedule[: config.rounds]
    return run_peer_workload(workload, runtime=config.runtime)


def plain_reference_loop(workload: PeerWorkload, rounds: int | None = None) -> list[float]:
    """The workload as a plain PyTorch loop; test accuracy of round 0 (initial) to ``rounds``.

    Follows workload.json literally: per client a fresh ``torch.optim.SGD(lr=0.05)``, batches of 16 in
    the order ``default_rng([0, r, c]).permutation(n_c)``, ``F.cross_entropy``; FedAvg in float32 in
    ascending client id. (The first optimizer step imports ``torch._dynamo``: about a second.)
    """
    model = workload.model()
    X, y = torch.from_numpy(workload.X), torch.from_numpy(workload.y)
    X_test, y_test = X[workload.test_rows], y[workload.test_rows]
    global_state = {k: v.clone() for k, v in workload.init_state.items()}

    def accuracy() -> float:
        model.load_state_dict(global_state)
        with torch.no_grad():
            return float((model(X_test).argmax(1) == y_test).float().mean())

    curve = [accuracy()]
    for rnd, selected in enumerate(workload.schedule[:rounds], start=1):
        states, weights = [], []
        for cid in selected:
            rows = workload.clients[cid]
            n = len(rows)
            if n == 0:
                states.append(global_state)
                weights.append(0)
                continue
            model.load_state_dict(global_state)
            optimizer = torch.optim.SGD(model.parameters(), lr=LOCAL.lr)
            rows = rows[np.random.default_rng([0, rnd, cid]).permutation(n)]
            for start in range(0, n, LOCAL.batch_size):
                batch = torch.from_numpy(rows[start : start + LOCAL.batch_size])
                optimizer.zero_grad()
                F.cross_entropy(model(X[batch]), y[batch]).backward()
                optimizer.step()
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            weights.append(n)
        total = float(sum(weights))
        new_state = {}
        for key, value in global_state.items():
            acc = torch.zeros_like(value)
            for state, weight in zip(states, weights, strict=True):
                if weight:
                    acc += state[key] * (weight / total)
            new_state[key] = acc
        global_state = new_state
        curve.append(accuracy())
    return curve
