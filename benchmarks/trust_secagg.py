"""Secure aggregation (Bonawitz et al. 2017): exact sums at 0/10/30 % dropout after masking, bytes and time.

Run from the repository root::

    python benchmarks/trust_secagg.py          # ~1 min

Part 1 sums random updates the size of the digits MLP (4,810 values) over n clients; clients that drop
leave after sharing their keys, so their masks must be removed from Shamir shares. "exact" compares the
protocol's output with the plain sum of the survivors' fixed-point inputs, bit for bit; "max err" is the
distance to the float64 sum. Bytes are all messages of all phases (public keys, AES-GCM encrypted shares,
masked vectors, unmask shares), per client, against one fp32 update envelope of the same vector; the 64-bit
ring (24 fraction bits) sends 8 bytes per value, the 32-bit ring (16 fraction bits) 4. "client s" is the
protocol work of all n clients run one after another in this process (key agreement, sharing, masking);
"server s" is the unmasking (Shamir reconstruction and mask removal).
Part 2 runs FedAvg behind secure aggregation on digits and compares with plain FedAvg.
Writes ``tandem-results/trust-secagg.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from tandem.core.envelope import encode_state
from tandem.federated.secagg import Ring
from tandem.federated.secagg_round import SecureAggregation, secure_sum
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.trust.scenarios import digits_scenario, run_scenario
from tandem.report.results import RunResult, StageRecord, write_result

DIM = 4810


def part1(sizes: list[int], drops: list[float], rings: list[Ring]) -> list[StageRecord]:
    plain = len(encode_state({"update": torch.zeros(DIM)}, "fp32"))
    print(f"vector of {DIM} values; plain fp32 update envelope = {plain:,} bytes per client")
    print(
        f"{'ring':>12}{'n':>5}{'drop':>6}{'exact':>7}{'max err':>10}{'up B/client':>13}{'x plain':>9}"
        f"{'down B/client':>15}"
        f"{'client s':>10}{'server s':>10}"
    )
    records = []
    for ring, n in [(r, n) for r in rings for n in sizes]:
        rng = np.random.default_rng(n)
        inputs = {c: rng.normal(scale=0.05, size=DIM) for c in range(n)}
        for share in drops:
            dropped = list(range(round(share * n)))
            run = secure_sum(inputs, dropped=dropped, ring=ring)
            ring_name = f"Z_2^{ring.bits} f={ring.frac_bits}"
            ref = ring.decode(sum((ring.encode(inputs[c]) for c in run.survivors), np.zeros(DIM, ring.dtype)))
            exact = bool(np.array_equal(run.total, ref))
            err = float(np.abs(run.total - sum(inputs[c] for c in run.survivors)).max())
            up = sum(run.bytes_up.values()) / n
            down = sum(run.bytes_down.values()) / n
            print(
                f"{ring_name:>12}{n:>5}{share:>6.0%}{exact!s:>7}{err:>10.1e}{up:>13,.0f}{up / plain:>9.2f}"
                f"{down:>15,.0f}{run.client_s:>10.2f}{run.server_s:>10.3f}"
            )
            records.append(
                StageRecord(
                    stage=f"secagg/ring{ring.bits}/n={n}/drop={share:.0%}",
                    direction="device_to_cloud",
                    metrics={"exact": float(exact)},
                    bytes_up=int(sum(run.bytes_up.values())),
                    bytes_down=int(sum(run.bytes_down.values())),
                    extra={
                        "max_abs_err": err,
                        "client_s_all": run.client_s,
                        "server_s": run.server_s,
                        "plain_bytes_per_client": float(plain),
                        **{f"up_{k}": float(v) for k, v in run.bytes_up.items()},
                    },
                )
            )
    return records


def part2(rounds: int) -> list[StageRecord]:
    sc = digits_scenario(alpha=10.0)
    obj = LocalObjective(lr=0.05, epochs=2, batch_size=16)
    print(f"\nFedAvg on digits, 20 clients, {rounds} rounds:")
    records = []
    for label, strategy in [
        ("plain FedAvg", get_strategy("fedavg", objective=obj)),
        ("secagg, 0% drop", SecureAggregation(get_strategy("fedavg", objective=obj))),
        ("secagg, 10% drop", SecureAggregation(get_strategy("fedavg", objective=obj), dropout_after_masking=0.1)),
        ("secagg, 30% drop", SecureAggregation(get_strategy("fedavg", objective=obj), dropout_after_masking=0.3)),
    ]:
        tic = time.perf_counter()
        res = run_scenario(sc, strategy, rounds=rounds)
        wall = time.perf_counter() - tic
        extra = ""
        if isinstance(strategy, SecureAggregation):
            agg_s = sum(r["client_s"] + r["server_s"] for r in strategy.runs_) / len(strategy.runs_)
            extra = f"   protocol {agg_s:.2f} s/round"
        print(f"  {label:<18} accuracy {res.final():.4f}   wall {wall:.1f} s{extra}")
        records.append(
            StageRecord(
                stage=f"digits/{label}",
                direction="device_to_cloud",
                metrics={"accuracy": res.final()},
                extra={"wall_s": wall},
            )
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10, 50, 100])
    parser.add_argument("--drops", nargs="+", type=float, default=[0.0, 0.1, 0.3])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", default="tandem-results/trust-secagg.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    rings = [Ring(64, 24), Ring(32, 16)]
    stages = part1(args.sizes, args.drops, rings) + part2(args.rounds)
    result = RunResult(
        kind="trust-secagg", config=vars(args), stages=stages, wall_clock_s=time.perf_counter() - started
    )
    print(f"wrote {write_result(result, Path(args.out))} ({result.wall_clock_s:.0f} s)")


if __name__ == "__main__":
    main()
