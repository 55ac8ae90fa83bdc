"""Client runtimes side by side: sequential reference vs vmap (FunctionalRuntime) vs hand-written stacked MLP.

Run from anywhere::

    python benchmarks/batched_runtimes.py [--config main|large] [--rounds N] [--repeats 3]

Two workloads on scikit-learn's digits, FedAvg, lr 0.05, batch 16, one epoch:

* ``mlp``: the peer reference workload (``../shared/peers``: its partition, schedule and initial
  weights; ``--config large`` is its 1000-client / 100-per-round variant; a Dirichlet(0.5) partition
  of 100 clients, 10 per round, when the files are absent), MLP 64-64-10;
* ``cnn``: the same clients with each row as a 1x8x8 image, two 3x3 conv layers (4 and 8 channels) + linear.

Each runtime trains every round (FedAvg of its own results), so the runs are real trainings; the
time is the median over ``--repeats`` of all rounds' ``fit`` calls, after one warm-up round. The
script also prints the largest parameter difference to the sequential reference after the last round.
torch runs with one intra-op thread, as the engine benchmarks do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3), nn.ReLU())
        self.head = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


Workload = tuple[np.ndarray, np.ndarray, list[np.ndarray], list[list[int]], dict | None]


def workload(config: str, rounds: int | None) -> Workload:
    """Digits rows, client partition, schedule and (peer) initial MLP weights."""
    from tandem.data.partition import dirichlet_partition

    peers = REPO.parent / "shared" / "peers"
    if (peers / "workload.json").exists():
        from tandem.recipes.peer.workload import load_peer_workload

        w = load_peer_workload(peers, config)
        return w.X, w.y, w.clients, w.schedule[:rounds], w.init_state
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    parts = dirichlet_partition(y, 100, 0.5, seed=0)
    rng = np.random.default_rng(0)
    return X, y, parts, [sorted(rng.choice(100, 10, replace=False).tolist()) for _ in range(rounds or 50)], None


def train(kind: str, model: nn.Module, data, schedule: list[list[int]]) -> tuple[float, dict[str, torch.Tensor]]:
    from tandem.federated.strategy import LocalObjective, RoundPlan
    from tandem.sim.runtime import make_runtime

    runtime = make_runtime(kind, model, data, seed=0)
    objective = LocalObjective(lr=0.05, batch_size=16)
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    runtime.fit(RoundPlan(0, params, objective), schedule[0])  # warm-up (lazy imports, allocator)
    started = time.perf_counter()
    for rnd, ids in enumerate(schedule, start=1):
        results = runtime.fit(RoundPlan(rnd, params, objective), ids)
        total = sum(r.n_examples for r in results)
        params = {k: sum(r.params[k] * (r.n_examples / total) for r in results) for k in params}
    return time.perf_counter() - started, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("main", "large"), default="main")
    parser.add_argument("--rounds", type=int, default=None, help="first N rounds only (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from tandem.data.clients import PartitionedData

    torch.set_num_threads(1)
    X, y, parts, schedule, init = workload(args.config, args.rounds)
    mlp = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if init is not None:
        mlp.load_state_dict(init)
    cases = {
        "mlp": (mlp, PartitionedData(X, y, parts), ("sequential", "functional", "batched")),
        "cnn": (DigitsCNN(), PartitionedData(X.reshape(-1, 1, 8, 8), y, parts), ("sequential", "functional")),
    }
    print(f"{len(schedule)} rounds x {len(schedule[0])} clients, median of {args.repeats}, 1 torch thread")
    for name, (model, data, kinds) in cases.items():
        times: dict[str, float] = {}
        finals: dict[str, dict[str, torch.Tensor]] = {}
        for kind in kinds:
            runs = [train(kind, model, data, schedule) for _ in range(args.repeats)]
            times[kind] = statistics.median(t for t, _ in runs)
            finals[kind] = runs[0][1]
        base = times["sequential"]
        for kind in kinds:
            diff = max(float((finals[kind][k] - finals["sequential"][k]).abs().max()) for k in finals[kind])
            print(
                f"  {name:4s} {kind:10s} {times[kind]:7.3f} s  {base / times[kind]:5.1f}x vs sequential"
                f"   max |param - sequential| {diff:.1e}"
            )


if __name__ == "__main__":
    main()
