"""Fleet-scale federated rounds: 10,000 clients of the digits MLP in one round; a population of 10^6.

Run with no arguments::

    python benchmarks/fl_scale.py

Clients are :class:`tandem.data.clients.SyntheticClients` shaped like the digits workload (64 features,
10 classes, 5-25 examples each, a Dirichlet(0.5) label mix per client), generated from the client id
when the client is selected. Each config runs in a fresh child process so its peak RSS is its own.

Wall seconds are what counts; CPU seconds are printed beside them because this 2-core machine is shared
(when other processes run, wall time inflates while CPU time stays put).

* ``round10k``: population 10,000, all 10,000 train every round (FedAvg, batch 16, lr 0.05, 1 epoch);
  the full engine path: selection, fp32 broadcast, batched training, 10,000 real encoded uploads,
  aggregation, central evaluation. Target: <= 2 s per round.
* ``population``: the same 10,000 clients per round drawn from populations of 10^4 and 10^6; memory
  must depend on the clients of the round, not on the population.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

ROUNDS = 3


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(population: int, per_round: int, codec: str | None) -> None:
    import torch

    from tandem.federated.strategy import LocalObjective, get_strategy
    from tandem.models.mlp import build_mlp
    from tandem.sim import ClassificationEval, FederatedSimulation, SyntheticClients

    torch.set_num_threads(1)
    data = SyntheticClients(population, n_features=64, n_classes=10, min_size=5, max_size=25, seed=0)
    x_test, y_test = data.test_set(2000)
    torch.manual_seed(0)
    model = build_mlp([64, 64, 10])
    rss_before = _rss_mb()
    sim = FederatedSimulation(
        model,
        data,
        get_strategy("fedavg", objective=LocalObjective(lr=0.05, batch_size=16)),
        rounds=ROUNDS,
        clients_per_round=per_round,
        evaluate=ClassificationEval(model, x_test, y_test),
        codec=codec,
        progress=False,
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = sim.run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rounds = result.history[1:]
    print(
        json.dumps(
            {
                "round_s": [r["wall_s"] for r in rounds],
                "examples": [r["n_examples"] for r in rounds],
                "bytes_up": rounds[-1]["bytes_up"],
                "accuracy": result.curve(),
                "wall_s": wall,
                "cpu_s_per_round": cpu / ROUNDS,
                "rss_before_mb": rss_before,
                "rss_after_mb": _rss_mb(),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


def spawn(population: int, per_round: int, codec: str = "fp32") -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(population), str(per_round), codec],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"digits-shaped MLP (64-64-10, 4,810 parameters), FedAvg, {ROUNDS} rounds per config, 1 torch thread")
    load = os.getloadavg()[0]
    busy = "  (machine busy: wall times inflate, CPU times much less)" if load > 1 else ""
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs{busy}\n")
    for codec in ("fp32", "none"):
        res = spawn(10_000, 10_000, codec)
        times = ", ".join(f"{t:.2f}" for t in res["round_s"])
        wire = "every update fp32-encoded" if codec == "fp32" else "no wire encoding"
        print(
            f"round of 10,000 clients ({wire}): {sorted(res['round_s'])[len(res['round_s']) // 2]:.2f} s median "
            f"[{times}] (cpu {res['cpu_s_per_round']:.2f} s/round)  examples/round {res['examples'][0]:,}  "
            f"bytes up {res['bytes_up']:,}  peak_rss_mb {res['peak_rss_mb']:.0f}"
        )
    print()
    for population in (10_000, 1_000_000):
        res = spawn(population, 10_000)
        print(
            f"population {population:>9,} / 10,000 per round: rss before run {res['rss_before_mb']:.0f} MB, "
            f"after {ROUNDS} rounds {res['rss_after_mb']:.0f} MB, peak {res['peak_rss_mb']:.0f} MB; "
            f"median round {sorted(res['round_s'])[1]:.2f} s"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), None if sys.argv[4] == "none" else sys.argv[4])
    else:
        main()
