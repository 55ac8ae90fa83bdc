"""Uplink compression on the reference workload (``../shared/peers``: digits MLP, Dirichlet(0.5), FedAvg, 50 rounds).

Run from the repository root::

    python benchmarks/trust_compression.py        # ~2 min

Every client update ``w_k - w`` is encoded by :class:`tandem.federated.compression.CompressedUplink` into a
real envelope (:func:`tandem.core.envelope.encode_state`); the uplink bytes are the sum of ``len(payload)``
over all clients and rounds, and the server aggregates what it decodes. The fp32 row is the same path with
the lossless codec (the dense baseline every ratio is against). Top-k keeps the given share of entries
(uint16 index + value), with error feedback (Stich et al. 2018) unless marked "no EF"; QSGD (Alistarh et al.
2017) quantizes stochastically to 8 or 4 bits with one float32 scale per 512 entries (bucket max-norm, or
the paper's L2 norm); "+ zstd" entropy-codes the payload body (the role of QSGD's Elias coding).
Writes ``tandem-results/trust-compression.json`` with an accuracy-vs-bytes curve.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tandem.federated.compression import CompressedUplink
from tandem.federated.hooks import HookedRuntime
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.report.results import RunResult, StageRecord, write_result
from tandem.sim import ClassificationEval, FederatedSimulation, PartitionedData, ScheduleSelector, make_runtime
from tandem.sim.peer import LOCAL, REFERENCE_FINAL_ACCURACY, load_peer_workload

REPO = Path(__file__).resolve().parent.parent
SETTINGS = [  # label, codec, error feedback, codec kwargs
    ("fp32 (dense)", "fp32", False, {}),
    ("fp16", "fp16", False, {}),
    ("qsgd 8-bit", "qsgd", False, {"bits": 8, "seed": 0}),
    ("qsgd 4-bit", "qsgd", False, {"bits": 4, "seed": 0}),
    ("qsgd 4-bit seed 1", "qsgd", False, {"bits": 4, "seed": 1}),
    ("qsgd 4-bit + zstd", "qsgd", False, {"bits": 4, "seed": 0, "compress": "zstd"}),
    ("qsgd 4-bit l2+zstd", "qsgd", False, {"bits": 4, "seed": 0, "norm": "l2", "compress": "zstd"}),
    ("top-10% + EF", "topk", True, {"fraction": 0.10}),
    ("top-10% fp16 zstd EF", "topk", True, {"fraction": 0.10, "values": "fp16", "compress": "zstd"}),
    ("top-5% + EF", "topk", True, {"fraction": 0.05}),
    ("top-5% no EF", "topk", False, {"fraction": 0.05}),
    ("top-2% + EF", "topk", True, {"fraction": 0.02}),
]


def run(workload, hook: CompressedUplink) -> float:
    model = workload.model()
    data = PartitionedData(workload.X, workload.y, workload.clients)
    sim = FederatedSimulation(
        model,
        data,
        get_strategy("fedavg", objective=LocalObjective(**LOCAL)),
        rounds=workload.rounds,
        clients_per_round=workload.clients_per_round,
        selector=ScheduleSelector(workload.schedule),
        evaluate=ClassificationEval(model, workload.X[workload.test_rows], workload.y[workload.test_rows]),
        runtime=HookedRuntime(make_runtime("batched", model, data), [hook]),
        codec=None,
        progress=False,
    )
    return sim.run().final()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", default=str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--out", default="tandem-results/trust-compression.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    workload = load_peer_workload(args.peers, "main")
    print(
        f"reference workload: {workload.rounds} rounds x {workload.clients_per_round} clients of "
        f"{len(workload.clients)}; published final accuracy {REFERENCE_FINAL_ACCURACY['main']}"
    )
    print(f"{'uplink':<22}{'accuracy':>9}{'vs fp32 pts':>12}{'uplink bytes':>14}{'cut':>8}{'wall s':>8}")
    stages, points, dense_bytes, dense_acc = [], [], None, None
    for label, codec, ef, kwargs in SETTINGS:
        tic = time.perf_counter()
        hook = CompressedUplink(codec, error_feedback=ef, **kwargs)
        acc = run(workload, hook)
        up = sum(hook.bytes_by_round_.values())
        if dense_bytes is None:
            dense_bytes, dense_acc = up, acc
        cut = dense_bytes / up
        print(
            f"{label:<20}{acc:>9.4f}{100 * (acc - dense_acc):>+12.2f}{up:>14,}{cut:>7.1f}x"
            f"{time.perf_counter() - tic:>8.1f}"
        )
        stages.append(
            StageRecord(
                stage=f"peer-main/{label}",
                direction="device_to_cloud",
                metrics={"accuracy": acc},
                bytes_up=int(up),
                extra={"cut_vs_fp32": cut},
            )
        )
        points.append({"x": float(up), "y": acc, "label": label})
    curve = {"name": "uplink compression (peer workload)", "x": "bytes", "y": "accuracy", "points": points}
    result = RunResult(
        kind="trust-compression",
        config=vars(args),
        stages=stages,
        curves=[curve],
        wall_clock_s=time.perf_counter() - started,
    )
    print(f"wrote {write_result(result, Path(args.out))} ({result.wall_clock_s:.0f} s)")


if __name__ == "__main__":
    main()
