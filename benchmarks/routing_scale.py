"""Collaborative inference at fleet scale: 10^6 device-steps replayed with a request policy, end to end.

Run with no arguments::

    python benchmarks/routing_scale.py [--users 20409] [--steps 49] [--anticipate 0]

A synthetic fleet (:func:`tandem.data.make_synthetic_fleet`, 1,000 items) of 20,409 users x 49 steps
(= 1,000,041 device-steps). The device runs a small SASRec (dim 16, one block, the last 10 items); the cloud
runs a larger WindowRecommender (dim 64) live, only for the steps whose device asks. The policy is
``confidence`` set to ask on 20% of steps, under a per-device token bucket. Timed phases:

* ``device``: the small model encodes every device-step's history once (10^6 forward passes);
* ``digest``: its scores over the whole catalogue at every step (top items, log-partition, confidence);
* ``replay``: the streaming simulator (signals, policy, budget, cloud answers for requested steps, fused
  ranking, NDCG/HR, bytes and latency ledger) over all 10^6 steps.

``--anticipate N`` makes the cloud's answers anticipatory (:mod:`tandem.routing.anticipate`: its answer after
each of its top N clicks, 10 candidates each); the conditional answers a device uses are computed by the cloud
model during the replay, and the anticipated clicks of every step once before it (phase ``anticipate``).

Target (issue 6): the whole thing in under a minute on this machine. Wall and CPU seconds are both printed
because the 2-core machine is shared.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def run_stride(values: torch.Tensor) -> int:
    """torch.quantile accepts at most 2**24 values; subsample larger inputs evenly."""
    return -(-values.numel() // (1 << 24))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20409)
    parser.add_argument("--steps", type=int, default=49)
    parser.add_argument("--anticipate", type=int, default=0, help="anticipated clicks per answer (0: list only)")
    args = parser.parse_args()

    from tandem.data import make_synthetic_fleet
    from tandem.models import WindowRecommender
    from tandem.models.seqrec import build_seqrec
    from tandem.routing import (
        Anticipation,
        FactorizedDevice,
        ModelCloud,
        Streams,
        StreamSimulator,
        TokenBucket,
        get_policy,
    )

    torch.manual_seed(0)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fleet = make_synthetic_fleet(args.users, n_items=1000, seq_len=args.steps + 1, seed=0)
    streams = Streams(fleet.sequences)
    cloud = ModelCloud(WindowRecommender(1000, dim=64, hidden=128, window=8), n_candidates=50, batch_size=4096)
    t_data = time.perf_counter() - wall0
    small = FactorizedDevice.precompute(build_seqrec("sasrec", 1000, 10, "small").eval(), streams, batch_size=4096)
    t_device = time.perf_counter() - wall0 - t_data
    t_mark = time.perf_counter()
    anticipation = Anticipation(cloud.model, streams, args.anticipate, 10, max_len=cloud.max_len,
                                batch_size=4096) if args.anticipate else None
    t_anticipate = time.perf_counter() - t_mark
    sim = StreamSimulator(streams, small, cloud, combiner="fusion", anticipation=anticipation)
    t_digest = time.perf_counter() - t_mark - t_anticipate
    uncertainty = 1.0 - sim.digest.confidence  # the policy's score; its 80th percentile asks on ~20% of steps
    policy = get_policy("confidence", threshold=float(torch.quantile(uncertainty[:: max(1, run_stride(uncertainty))],
                                                                     0.8)))
    run = sim.run(policy, TokenBucket(rate=0.25, burst=2.0))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({
        "device_steps": run.n_steps, "requests": run.requests, "request_rate": round(run.request_rate, 4),
        "ndcg@10": round(run.metrics["ndcg@10"], 4), "bytes_up": run.bytes_up, "bytes_down": run.bytes_down,
        "seconds": {"data": round(t_data, 1), "device": round(t_device, 1), "digest": round(t_digest, 1),
                    "anticipate": round(t_anticipate, 1),
                    "replay": round(run.wall_s, 1),
                    "total_wall": round(wall, 1), "total_cpu": round(cpu, 1)},
        "under_a_minute": wall < 60.0,
    }, indent=2))


if __name__ == "__main__":
    main()
