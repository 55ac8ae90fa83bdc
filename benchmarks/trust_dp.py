"""DP-FedAvg: accuracy vs epsilon (1, 3, 8 at delta = 1e-5) with Opacus's RDP accountant, digits and UCI Adult.

Run from the repository root::

    python benchmarks/trust_dp.py                   # digits + adult, ~5 min on 2 busy cores
    python benchmarks/trust_dp.py --datasets digits

For each target epsilon the noise multiplier ``z`` is the one Opacus finds for the sampling rate
``q = m / N`` and the number of rounds; each round clips every update to ``C`` and adds ``N(0, (z C / m)^2)``
(McMahan et al. 2018). The table shows the accountant's own epsilon after the last round, and the run's
budget is set to the target, so a run that overspent would have stopped with ``PrivacyBudgetExceeded``
(the last line demonstrates that refusal). The "local DP" rows clip and noise each update on the device
(``N(0, (z C)^2)``); their epsilon is one client's, over its expected number of participations.
Writes ``tandem-results/trust-dp.json`` with an accuracy-vs-epsilon curve per data set.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from tandem.federated.privacy import CentralDP, LocalDP, PrivacyBudgetExceeded, local_epsilon, noise_for_epsilon
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.trust.scenarios import digits_scenario, run_scenario, tabular_scenario
from tandem.report.results import RunResult, StageRecord, write_result

DELTA = 1e-5
SETUPS = {  # clients N, per round m, rounds, clip C, local objective
    "digits": (100, 20, 40, 1.0, LocalObjective(lr=0.1, epochs=5, batch_size=16)),
    "adult": (400, 40, 30, 1.0, LocalObjective(lr=0.1, epochs=2, batch_size=16)),
    "bank": (400, 40, 30, 1.0, LocalObjective(lr=0.1, epochs=2, batch_size=16)),
}


def run_dataset(name: str, epsilons: list[float], local_noise: list[float]) -> tuple[list[StageRecord], dict]:
    n, m, rounds, clip, obj = SETUPS[name]
    sc = (
        digits_scenario(n_clients=n, alpha=10.0) if name == "digits" else tabular_scenario(name, n, 10.0, max_rows=None)
    )
    print(f"\n[{name}] N={n} clients, m={m} per round (q={m / n:g}), {rounds} rounds, clip C={clip}, delta={DELTA:g}")
    print(f"{'setting':<16}{'z':>8}{'epsilon (RDP)':>15}{'accuracy':>10}{'wall s':>8}")
    records, points = [], []
    tic = time.perf_counter()
    base = run_scenario(sc, get_strategy("fedavg", objective=obj), rounds=rounds, clients_per_round=m)
    print(f"{'FedAvg, no DP':<16}{'-':>8}{'-':>15}{base.final():>10.4f}{time.perf_counter() - tic:>8.1f}")
    records.append(StageRecord(stage=f"{name}/fedavg", direction="device_to_cloud", metrics={"accuracy": base.final()}))
    for eps in [None, *epsilons]:
        tic = time.perf_counter()
        z = 0.0 if eps is None else noise_for_epsilon(eps, DELTA, m / n, rounds)
        dp = CentralDP(
            get_strategy("fedavg", objective=obj),
            clip=clip,
            noise_multiplier=z,
            clients_per_round=m,
            n_clients=n,
            delta=DELTA,
            epsilon_budget=None if eps is None else eps * 1.001,
            seed=0,
        )
        res = run_scenario(sc, dp, rounds=rounds, clients_per_round=m)
        spent = dp.epsilon() if z > 0 else float("inf")
        label = "clip only" if eps is None else f"epsilon {eps:g}"
        print(f"{label:<16}{z:>8.3f}{spent:>15.3f}{res.final():>10.4f}{time.perf_counter() - tic:>8.1f}")
        records.append(
            StageRecord(
                stage=f"{name}/{label}",
                direction="device_to_cloud",
                metrics={"accuracy": res.final()},
                extra={"noise_multiplier": z, "epsilon": spent if z > 0 else -1.0, "delta": DELTA},
            )
        )
        if eps is not None:
            points.append({"x": spent, "y": res.final(), "label": f"z={z:.2f}"})
    for z in local_noise:
        tic = time.perf_counter()
        res = run_scenario(
            sc,
            get_strategy("fedavg", objective=obj),
            rounds=rounds,
            clients_per_round=m,
            hooks=[LocalDP(clip=clip, noise_multiplier=z, seed=0)],
        )
        per_client = local_epsilon(z, round(rounds * m / n), DELTA)  # a client's expected participations
        label = f"local DP z={z:g}"
        print(f"{label:<16}{z:>8.3f}{per_client:>15.3f}{res.final():>10.4f}{time.perf_counter() - tic:>8.1f}")
        records.append(
            StageRecord(
                stage=f"{name}/{label}",
                direction="device_to_cloud",
                metrics={"accuracy": res.final()},
                extra={"noise_multiplier": z, "epsilon_per_client": per_client, "delta": DELTA},
            )
        )
    curve = {"name": f"DP-FedAvg {name}", "x": "epsilon", "y": "accuracy", "points": points}
    return records, curve


def refusal_demo() -> str:
    z = noise_for_epsilon(3.0, DELTA, 0.2, 40)
    dp = CentralDP("fedavg", noise_multiplier=z, clients_per_round=20, n_clients=100, delta=DELTA, epsilon_budget=3.0)
    for rnd in range(1, 100):
        try:
            dp.configure_round(rnd, {})
        except PrivacyBudgetExceeded as exc:
            return str(exc)
        dp.accountant_.step(noise_multiplier=z, sample_rate=0.2)
        dp.epsilon_history_.append({"round": rnd, "epsilon": dp.epsilon(), "delta": DELTA})
    return "no refusal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "adult"], choices=sorted(SETUPS))
    parser.add_argument("--epsilons", nargs="+", type=float, default=[8.0, 3.0, 1.0])
    parser.add_argument("--local-noise", nargs="+", type=float, default=[1.0, 3.0])
    parser.add_argument("--out", default="tandem-results/trust-dp.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Optimal order")  # Opacus's note on its alpha grid
    torch.set_num_threads(1)
    started = time.perf_counter()
    stages, curves = [], []
    for name in args.datasets:
        recs, curve = run_dataset(name, args.epsilons, args.local_noise)
        stages += recs
        curves.append(curve)
    print(f"\nbudget refusal (z for epsilon 3 over 40 rounds, budget 3, run continues): {refusal_demo()}")
    result = RunResult(
        kind="trust-dp", config=vars(args), stages=stages, curves=curves, wall_clock_s=time.perf_counter() - started
    )
    print(f"wrote {write_result(result, Path(args.out))} ({result.wall_clock_s:.0f} s)")


if __name__ == "__main__":
    main()
