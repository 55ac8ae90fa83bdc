"""Where should each device cut the model? Neurosurgeon-style partitioning of a VGG-style CNN.

    python examples/routing/split_computing.py

Profiles the CNN once, predicts every partition's latency for each device tier, then runs the chosen
split for real (device half, encoded activation, cloud half) and checks it equals the unsplit model.
"""

from __future__ import annotations

import torch

from tandem.fleet import DEFAULT_MIX, get_tier
from tandem.routing import choose_partition, partition_costs, profile_stages, run_split, split_cnn

stages = split_cnn()
x = torch.randn(1, 3, 224, 224)
profile = profile_stages(stages, x)
reference = x
for stage in stages:
    reference = stage(reference)

for name in DEFAULT_MIX:
    tier = get_tier(name)
    latency, energy = partition_costs(profile, tier.compute_gflops.median, tier.uplink_mbps.median,
                                      tier.downlink_mbps.median, tier.rtt_ms.median)
    cut = int(choose_partition(latency)[0])
    run = run_split(stages, x, cut)
    same = torch.equal(run.output["x"], reference)
    print(f"{name:>16}: cut after {cut} of {len(stages)} stages, {latency[0, cut] * 1e3:6.1f} ms "
          f"(device only {latency[0, -1] * 1e3:6.1f} ms, cloud only {latency[0, 0] * 1e3:6.1f} ms), "
          f"{run.bytes_up} bytes up, output equal: {same}")
