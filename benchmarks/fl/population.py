"""A population of 10^6 clients with 10^4 per round on one machine: peak RSS must stay under 2 GB.

``python benchmarks/fl/population.py [--clients 1000000] [--per-round 10000] [--rounds 3]`` runs FedAvg on
:class:`tandem.data.SyntheticClients` (each client's 5..25 examples generated from its id on demand, nothing
per client stored) with the batched runtime and prints the peak RSS of the process, its time per round
and the accuracy on the population's test set.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--per-round", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from tandem.data import SyntheticClients
    from tandem.federated.strategy import LocalObjective, get_strategy
    from tandem.models.mlp import build_mlp
    from tandem.sim import FederatedSimulation
    from tandem.sim.engine import ClassificationEval

    data = SyntheticClients(args.clients, n_features=64, n_classes=10, seed=0)
    torch.manual_seed(0)
    model = build_mlp([64, 64, 10])
    X, y = data.test_set()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    sim = FederatedSimulation(model, data, get_strategy("fedavg", objective=LocalObjective(lr=0.05, batch_size=16)),
                              rounds=args.rounds, clients_per_round=args.per_round, runtime="auto",
                              evaluate=ClassificationEval(model, X, y), progress=False)
    result = sim.run()
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.clients:,} clients, {args.per_round:,} per round, {args.rounds} rounds ({sim.config['runtime']}): "
          f"{elapsed / args.rounds:.2f} s per round, accuracy {result.final():.4f}; peak RSS {peak:.0f} MB "
          f"(after imports {before:.0f} MB); target <= 2048 MB: {'met' if peak <= 2048 else 'NOT met'}")


if __name__ == "__main__":
    main()
