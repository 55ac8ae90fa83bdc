"""Uplink compression on the reference workload (``../shared/peers``: digits MLP, Dirichlet(0.5), FedAvg, 50 rounds).

Run from the repository root::

    python benchmarks/trust_compression.py        # ~1 min on 2 cores (about 20 s idle)

Every client update ``w_k - w`` is encoded by :class:`tandem.federated.compression.CompressedUplink` into a
real envelope (:func:`tandem.core.envelope.encode_state`); the uplink bytes are the sum of ``len(payload)``
over all clients and rounds (header and checksum included), and the server aggregates what it decodes. The
fp32 row is the same path with the lossless codec: every ratio and every accuracy delta is against it, all
measured in this one run.

* ``topk``: the core codec, each kept entry as a uint16 index + fp32/fp16 value;
* ``sparseq`` (:mod:`tandem.core.codecs.sparseq`): top-k with indices as a bitmask or delta varints
  (whichever is smaller) and int8/int4 values with one scale per tensor; with error feedback (Stich et al.
  2018) the quantization error of the kept values joins the residual of the dropped ones;
* QSGD (Alistarh et al. 2017): stochastic 8/4-bit quantization, one float32 scale per 512 entries.

"+ zstd" entropy-codes the payload body. Rows with seeds (stochastic rounding) run once per seed and report
the mean; the other rows are deterministic (the workload fixes partition, schedule and init), so one run is
the whole distribution. "last-5" is the mean accuracy of rounds 46-50 minus the fp32 run's (the test set
has 360 images, so one image is 0.28 points: the final round alone is noisy).
Writes ``tandem-results/trust-compression.json`` with an accuracy-vs-bytes curve.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import torch

from tandem.federated.compression import CompressedUplink
from tandem.federated.hooks import HookedRuntime
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.peer.workload import LOCAL, REFERENCE_FINAL_ACCURACY, load_peer_workload
from tandem.report.results import RunResult, StageRecord, write_result
from tandem.sim import ClassificationEval, FederatedSimulation, PartitionedData, ScheduleSelector, make_runtime

REPO = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
ACCEPT_CUT, ACCEPT_LOSS_PTS = 10.0, 1.0
SQ = "sparseq"
SETTINGS: list[tuple[str, str, bool, dict[str, Any], tuple[int, ...] | None]] = [
    # label, codec, error feedback, codec kwargs, seeds (None: deterministic)
    ("fp32 (dense)", "fp32", False, {}, None),
    ("fp16", "fp16", False, {}, None),
    ("qsgd 8-bit", "qsgd", False, {"bits": 8}, SEEDS),
    ("qsgd 4-bit", "qsgd", False, {"bits": 4}, SEEDS),
    ("qsgd 4-bit + zstd", "qsgd", False, {"bits": 4, "compress": "zstd"}, SEEDS),
    ("topk 10% fp32 EF", "topk", True, {"fraction": 0.10}, None),
    ("topk 10% fp16 zstd EF", "topk", True, {"fraction": 0.10, "values": "fp16", "compress": "zstd"}, None),
    ("topk 5% fp32 EF", "topk", True, {"fraction": 0.05}, None),
    ("sparseq 10% int8 no EF", SQ, False, {"fraction": 0.10}, None),
    ("sparseq 5% int8 EF", SQ, True, {"fraction": 0.05}, None),
    ("sparseq 8% int8 EF", SQ, True, {"fraction": 0.08}, None),
    ("sparseq 10% int8 EF", SQ, True, {"fraction": 0.10}, None),
    ("sparseq 15% int8 EF", SQ, True, {"fraction": 0.15}, None),
    ("sparseq 20% int8 EF", SQ, True, {"fraction": 0.20}, None),
    ("sparseq 10% int8 sr EF", SQ, True, {"fraction": 0.10, "rounding": "stochastic"}, SEEDS),
    ("sparseq 10% int4 zstd EF", SQ, True, {"fraction": 0.10, "bits": 4, "compress": "zstd"}, None),
    ("sparseq 15% int4 zstd EF", SQ, True, {"fraction": 0.15, "bits": 4, "compress": "zstd"}, None),
    ("sparseq 20% int4 zstd EF", SQ, True, {"fraction": 0.20, "bits": 4, "compress": "zstd"}, None),
    ("sparseq 15% int4 sr zstd EF", SQ, True,
     {"fraction": 0.15, "bits": 4, "compress": "zstd", "rounding": "stochastic"}, SEEDS),
    ("sparseq 20% int4 sr zstd EF", SQ, True,
     {"fraction": 0.20, "bits": 4, "compress": "zstd", "rounding": "stochastic"}, SEEDS),
]  # fmt: skip


def run(workload, hook: CompressedUplink) -> list[float]:
    """The accuracy curve (round 0 first) of the reference workload with ``hook`` on every uplink."""
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
    return sim.run().curve()


def measure(workload, codec: str, ef: bool, kwargs: dict[str, Any], seeds: tuple[int, ...] | None) -> dict[str, Any]:
    """Run one setting once per seed; mean final / last-5 accuracy and uplink bytes (real payload sizes)."""
    finals, last5, ups = [], [], []
    for seed in seeds if seeds is not None else (None,):
        extra = {} if seed is None else {"seed": seed}
        hook = CompressedUplink(codec, error_feedback=ef, **kwargs, **extra)
        curve = run(workload, hook)
        finals.append(curve[-1])
        last5.append(sum(curve[-5:]) / 5)
        ups.append(sum(hook.bytes_by_round_.values()))
    n = len(finals)
    return {"final": sum(finals) / n, "last5": sum(last5) / n, "up": sum(ups) / n, "finals": finals}


def ok(m: dict[str, Any], key: str) -> bool:
    """Whether setting ``m`` meets the acceptance point (cut and loss, with ``key`` the accuracy delta)."""
    return m["cut"] >= ACCEPT_CUT and m[key] >= -ACCEPT_LOSS_PTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", default=str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--out", default="tandem-results/trust-compression.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    workload = load_peer_workload(args.peers, "main")
    print(
        f"reference workload: {workload.rounds} rounds x {workload.clients_per_round} clients of "
        f"{len(workload.clients)}; published final accuracy {REFERENCE_FINAL_ACCURACY['main']}; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    head = f"{'uplink':<29}{'B/round':>9}{'cut':>7}{'final acc':>10}{'Δ pts':>7}{'last-5 Δ':>9}  seeds (final acc)"
    print(head)
    stages, points, base, results = [], [], None, []
    for label, codec, ef, kwargs, seeds in SETTINGS:
        tic = time.perf_counter()
        m = measure(workload, codec, ef, kwargs, seeds)
        base = base or m
        m["cut"] = base["up"] / m["up"]
        m["delta"], m["delta5"] = 100 * (m["final"] - base["final"]), 100 * (m["last5"] - base["last5"])
        per_seed = " ".join(f"{a:.4f}" for a in m["finals"])
        per_seed = "1 (deterministic)" if seeds is None else f"{len(seeds)}: {per_seed}"
        print(
            f"{label:<29}{m['up'] / workload.rounds:>9,.0f}{m['cut']:>6.1f}x{m['final']:>10.4f}{m['delta']:>+7.2f}"
            f"{m['delta5']:>+9.2f}  {per_seed}  [{time.perf_counter() - tic:.1f} s]"
        )
        extra = {"cut_vs_fp32": m["cut"], "delta_pts": m["delta"], "last5_delta_pts": m["delta5"],
                 "bytes_per_round": m["up"] / workload.rounds, "seeds": len(m["finals"])}  # fmt: skip
        stages.append(
            StageRecord(
                stage=f"peer-main/{label}",
                direction="device_to_cloud",
                metrics={"accuracy": m["final"], "accuracy_last5": m["last5"]},
                bytes_up=int(m["up"]),
                extra=extra,
            )
        )
        points.append({"x": float(m["up"]), "y": m["final"], "label": label})
        m.update(label=label, ef=ef, codec=codec)
        results.append(m)
    topk_ef = [m for m in results if m["ef"] and m["codec"] in ("topk", SQ)]
    robust = [m["label"] for m in topk_ef if ok(m, "delta") and ok(m, "delta5")]
    final_only = [m["label"] for m in topk_ef if ok(m, "delta") and not ok(m, "delta5")]
    print(
        f"\nacceptance (top-k + EF, cut >= {ACCEPT_CUT:.0f}x, loss <= {ACCEPT_LOSS_PTS:.0f} pt on the final round "
        f"AND on the last-5 mean): {'PASS' if robust else 'FAIL'}\n  passing: {', '.join(robust) or 'none'}\n"
        f"  final round only (last-5 mean more than {ACCEPT_LOSS_PTS:.0f} pt down): {', '.join(final_only) or 'none'}"
    )
    curve = {"name": "uplink compression (peer workload)", "x": "bytes", "y": "accuracy", "points": points}
    result = RunResult(
        kind="trust-compression",
        config={**vars(args), "load_average": load, "seeds": list(SEEDS)},
        stages=stages,
        curves=[curve],
        wall_clock_s=time.perf_counter() - started,
    )
    print(f"wrote {write_result(result, Path(args.out))} ({result.wall_clock_s:.0f} s, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
