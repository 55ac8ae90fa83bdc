"""FedAvg vs FedProx vs SCAFFOLD on a strongly non-IID split, side by side in one run.

Protocol: scikit-learn's digits (X/16), 80/20 train/test split (seed 0), Dirichlet(alpha) label split of
the train rows over 100 clients, 10 clients per round, MLP 64-64-10, local SGD (``--lr``, default 0.05),
batch 16, ``--epochs`` local epochs, ``--rounds`` rounds; every strategy sees the same split, client
schedule and initial weights for a given seed. Reported: final and best-of-last-10-rounds test
accuracy, mean over seeds.
Run: ``python benchmarks/fl_noniid.py [--rounds 100 --epochs 5 --alpha 0.1 --seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tandem.recipes.fl.build import build_simulation
from tandem.recipes.fl.config import FLConfig
from tandem.report.results import RunResult, StageRecord, write_result

STRATEGIES = (
    ("fedavg", "fedavg", {}),
    ("fedprox mu=0.01", "fedprox", {"mu": 0.01}),
    ("fedprox mu=0.1", "fedprox", {"mu": 0.1}),
    ("fedprox mu=1", "fedprox", {"mu": 1.0}),
    ("scaffold", "scaffold", {}),
)


def run_one(name: str, kwargs: dict, args: argparse.Namespace, seed: int) -> list[float]:
    """Accuracy curve (round 0 first) of one strategy and seed."""
    config = FLConfig.model_validate({
        "dataset": {"name": args.dataset}, "partition": {"kind": "dirichlet", "alpha": args.alpha},
        "clients": 100, "per_round": 10, "rounds": args.rounds, "strategy": {"name": name, "kwargs": kwargs},
        "local": {"lr": args.lr, "epochs": args.epochs, "batch_size": 16}, "runtime": "batched", "seed": seed,
        "threads": 1,
    })
    return build_simulation(config, progress=False).run().curve("accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="tandem-results/fl_noniid.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    stages, rows = [], []
    for label, name, kwargs in STRATEGIES:
        started = time.perf_counter()
        curves = [run_one(name, kwargs, args, seed) for seed in args.seeds]
        final = [c[-1] for c in curves]
        best_late = [max(c[-10:]) for c in curves]
        rows.append((label, statistics.mean(final), statistics.pstdev(final), statistics.mean(best_late),
                     time.perf_counter() - started))
        stages.append(StageRecord(label, "device->cloud", {"accuracy": statistics.mean(final)},
                                  extra={"accuracy_std": statistics.pstdev(final),
                                         "best_last10": statistics.mean(best_late)}))
    print(f"{args.dataset}, Dirichlet({args.alpha}), 100 clients / 10 per round, {args.rounds} rounds, "
          f"{args.epochs} local epochs, lr {args.lr}, seeds {args.seeds}")
    print(f"{'strategy':<18}{'final acc (mean)':>18}{'std':>8}{'best of last 10':>17}{'vs fedavg':>11}{'time s':>9}")
    base = rows[0][1]
    for label, mean, std, best, seconds in rows:
        print(f"{label:<18}{mean:>18.4f}{std:>8.4f}{best:>17.4f}{mean - base:>+11.4f}{seconds:>9.1f}")
    result = RunResult(kind="federated-noniid", config=vars(args), stages=stages)
    print(f"result written to {write_result(result, args.out)}")


if __name__ == "__main__":
    main()
