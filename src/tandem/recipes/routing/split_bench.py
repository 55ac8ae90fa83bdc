"""The split-computing benchmark: where each kind of device cuts the CNN, checked by running every cut for real.

For each device tier's median profile (and a sampled fleet), the planner predicts every partition's latency
and energy from one profiling pass (:func:`tandem.routing.split.profile_stages`) and picks the cheapest. Then
every partition is *run* (:func:`tandem.routing.split_run.measure_partitions`): FLOPs counted while each half
ran, activation bytes from the real payloads. The bench reports, per tier, the planned and the measured
best partition (they must agree) and the largest difference between split and unsplit outputs (must be 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import Field
from rich.table import Table

from tandem.fleet.sampling import sample_fleet
from tandem.fleet.tiers import DEFAULT_MIX, get_tier
from tandem.recipes._options import RecipeConfig
from tandem.report.results import RunResult, StageRecord
from tandem.routing.split import choose_partition, partition_costs, profile_stages
from tandem.routing.split_run import measure_partitions, split_cnn


@dataclass
class SplitOutcome:
    rows: list[dict[str, Any]]
    fleet_counts: dict[str, dict[str, int]]
    stage_names: tuple[str, ...]
    flops: list[float]
    tensor_bytes: list[int]
    max_abs_diff: float
    input_size: int
    fleet_size: int = 0


class SplitBenchConfig(RecipeConfig):
    """Knobs of ``tandem route split``."""

    input_size: int = Field(224, ge=32)
    """Side of the square RGB image the CNN reads."""
    cloud_gflops: float = Field(1000.0, gt=0)
    """The cloud's compute, for its half's latency."""
    fleet_size: int = Field(10000, ge=1)
    """Sampled devices whose chosen partitions are counted."""
    seed: int = 0
    """Seed of the CNN's weights, the input and the fleet."""


def run_split_bench(config: SplitBenchConfig | None = None) -> SplitOutcome:
    """Plan and measure the partitions of :func:`split_cnn` for every tier's median device and a fleet."""
    config = config or SplitBenchConfig()
    input_size, cloud_gflops, fleet_size, seed = config.input_size, config.cloud_gflops, config.fleet_size, config.seed
    stages = split_cnn(seed=seed)
    names = ("stem", *(f"block{i + 1}" for i in range(len(stages) - 3)), "pool", "classifier")
    x = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    planned = profile_stages(stages, x, names=names)
    check = measure_partitions(stages, x, names=names)
    rows = []
    for tier_name in DEFAULT_MIX:
        t = get_tier(tier_name)
        args = (t.compute_gflops.median, t.uplink_mbps.median, t.downlink_mbps.median, t.rtt_ms.median)
        lat_p, en_p = partition_costs(planned, *args, cloud_gflops=cloud_gflops)
        lat_m, en_m = partition_costs(check.measured, *args, cloud_gflops=cloud_gflops)
        choice, measured_best = int(choose_partition(lat_p)[0]), int(choose_partition(lat_m)[0])
        energy_choice = int(choose_partition(en_p)[0])
        rows.append({"tier": tier_name, "gflops": t.compute_gflops.median, "uplink_mbps": t.uplink_mbps.median,
                     "rtt_ms": t.rtt_ms.median, "latency_choice": choice, "latency_measured_best": measured_best,
                     "latency_s": float(lat_m[0, choice]), "device_only_s": float(lat_m[0, -1]),
                     "cloud_only_s": float(lat_m[0, 0]), "energy_choice": energy_choice,
                     "energy_measured_best": int(choose_partition(en_m)[0]), "energy_j": float(en_m[0, energy_choice]),
                     "latency_by_partition_s": [float(v) for v in lat_m[0]]})
    fleet = sample_fleet(fleet_size, seed=seed)
    lat, en = partition_costs(planned, fleet.compute_gflops, fleet.uplink_mbps, fleet.downlink_mbps, fleet.rtt_ms,
                              cloud_gflops=cloud_gflops)
    labels = ["cloud only", *(f"after {n}" for n in names[:-1]), "device only"]
    counts = {kind: {labels[i]: int(c) for i, c in enumerate(np.bincount(choose_partition(c), minlength=len(labels)))
                     if c} for kind, c in (("latency", lat), ("energy", en))}
    return SplitOutcome(rows, counts, names, [float(f) for f in planned.flops], [int(b) for b in planned.tensor_bytes],
                        float(check.max_abs_diff.max()), input_size, fleet_size)


def partition_label(p: int, names: tuple[str, ...]) -> str:
    return "cloud only" if p == 0 else "device only" if p == len(names) else f"after {names[p - 1]}"


def split_table(o: SplitOutcome) -> Table:
    t = Table(title=f"split computing: VGG-style CNN on a 3x{o.input_size}x{o.input_size} input "
                    f"({sum(o.flops) / 1e9:.2f} GFLOPs); max |split - unsplit| = {o.max_abs_diff:g}")
    for col in ("tier (median device)", "GFLOP/s", "up Mbit/s", "RTT ms", "latency: chosen", "= measured best",
                "latency ms", "device only ms", "cloud only ms", "energy: chosen"):
        t.add_column(col, justify="left" if "tier" in col or "chosen" in col else "right")
    for r in o.rows:
        t.add_row(r["tier"], f"{r['gflops']:g}", f"{r['uplink_mbps']:g}", f"{r['rtt_ms']:g}",
                  partition_label(r["latency_choice"], o.stage_names),
                  "yes" if r["latency_choice"] == r["latency_measured_best"] else "NO",
                  f"{r['latency_s'] * 1e3:.1f}", f"{r['device_only_s'] * 1e3:.1f}", f"{r['cloud_only_s'] * 1e3:.1f}",
                  partition_label(r["energy_choice"], o.stage_names))
    return t


def split_result(o: SplitOutcome) -> RunResult:
    stages = [StageRecord(stage=f"split {r['tier']}", direction="cloud_for_device",
                          extra={"partition": r["latency_choice"], "measured_best": r["latency_measured_best"],
                                 "latency_s": r["latency_s"], "device_only_s": r["device_only_s"],
                                 "cloud_only_s": r["cloud_only_s"], "energy_partition": r["energy_choice"]},
                          latency_p50_s=r["latency_s"], latency_p95_s=r["latency_s"],
                          notes=partition_label(r["latency_choice"], o.stage_names)) for r in o.rows]
    config = {"model": "split_cnn", "input_size": o.input_size, "stages": list(o.stage_names), "flops": o.flops,
              "tensor_bytes": o.tensor_bytes, "max_abs_diff": o.max_abs_diff, "fleet_choices": o.fleet_counts}
    return RunResult(kind="routing-split", config=config, stages=stages)
