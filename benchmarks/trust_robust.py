"""Robust aggregation x attacks with 20 % malicious clients, on digits and UCI Adult (or Bank).

Run from the repository root::

    python benchmarks/trust_robust.py                       # digits + adult, ~4 min on 2 busy cores
    python benchmarks/trust_robust.py --datasets digits --rounds 20

Every rule (FedAvg = ``mean``, coordinate median, trimmed mean, Krum, Multi-Krum, norm clipping to C = 1 or
to each round's median norm) meets every
attack (none, sign flip x4, scaling x10, Gaussian noise std 1, label flip, ALIE) in one run of the same
scenario: 20 clients, all of them every round, Dirichlet(alpha) labels, 4 fixed malicious clients. Prints one
accuracy table per data set (final test accuracy) with the gap of each cell to the clean FedAvg run, and
writes ``tandem-results/trust-robust.json`` (:mod:`tandem.report.results`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tandem.federated.attacks import ModelPoisoning, malicious_clients
from tandem.federated.robust import RobustAggregation
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.trust.scenarios import digits_scenario, run_scenario, tabular_scenario
from tandem.report.results import RunResult, StageRecord, write_result

RULES = {  # column -> RobustAggregation arguments
    "mean": {"rule": "mean"},
    "median": {"rule": "median"},
    "trimmed_mean": {"rule": "trimmed_mean"},
    "krum": {"rule": "krum"},
    "multikrum": {"rule": "multikrum"},
    "clip C=1": {"rule": "norm_clip", "clip_norm": 1.0},
    "clip median": {"rule": "norm_clip", "clip_norm": "median"},
}
ATTACKS = ("none", "sign_flip", "scaling", "gaussian", "label_flip", "alie")
OBJECTIVE = {
    "digits": LocalObjective(lr=0.05, epochs=2, batch_size=16),
    "adult": LocalObjective(lr=0.05),
    "bank": LocalObjective(lr=0.05),
}


def run_dataset(name: str, rounds: int, alpha: float, fraction: float) -> list[StageRecord]:
    sc = digits_scenario(alpha=alpha) if name == "digits" else tabular_scenario(name, alpha=alpha)
    bad = malicious_clients(sc.n_clients, fraction, seed=0)
    print(
        f"\n[{name}] {sc.n_clients} clients ({len(sc.y)} train rows, {len(sc.y_test)} test), malicious {bad.tolist()}, "
        f"Dirichlet({alpha}), {rounds} rounds"
    )
    table: dict[tuple[str, str], float] = {}
    records = []
    for attack in ATTACKS:
        for rule in RULES:
            tic = time.perf_counter()
            hooks = [ModelPoisoning(attack, bad)] if attack not in ("none", "label_flip") else []
            strategy = RobustAggregation(
                get_strategy("fedavg", objective=OBJECTIVE[name]), n_byzantine=len(bad), **RULES[rule]
            )
            flips = bad if attack == "label_flip" else ()
            res = run_scenario(sc, strategy, rounds=rounds, hooks=hooks, label_flip_clients=flips)
            table[attack, rule] = res.final()
            records.append(
                StageRecord(
                    stage=f"{name}/{attack}/{rule}",
                    direction="device_to_cloud",
                    metrics={"accuracy": res.final()},
                    extra={"wall_s": time.perf_counter() - tic, "malicious": float(len(bad))},
                )
            )
    clean = table["none", "mean"]
    print(f"final test accuracy (clean FedAvg {clean:.4f}); in brackets: points vs clean FedAvg")
    print(f"{'attack':<11}" + "".join(f"{r:>17}" for r in RULES) + f"{'best robust':>20}")
    for attack in ATTACKS:
        cells = "".join(f"{table[attack, r]:>8.4f} ({100 * (table[attack, r] - clean):+5.1f})" for r in RULES)
        best = max(list(RULES)[1:], key=lambda r: table[attack, r])
        print(f"{attack:<11}{cells}   {best}:{100 * (table[attack, best] - clean):+5.1f}")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "adult"], choices=["digits", "adult", "bank"])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--out", default="tandem-results/trust-robust.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    stages = []
    for name in args.datasets:
        stages += run_dataset(
            name, args.rounds if name == "digits" else max(10, args.rounds * 2 // 3), args.alpha, args.fraction
        )
    result = RunResult(
        kind="trust-robust", config=vars(args), stages=stages, wall_clock_s=time.perf_counter() - started
    )
    path = write_result(result, Path(args.out))
    print(f"\nwrote {path} ({result.wall_clock_s:.0f} s)")


if __name__ == "__main__":
    main()
