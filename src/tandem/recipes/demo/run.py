"""The first end-to-end loop, cloud -> device -> cloud, on the embedded synthetic default.

Stages (each a function, a seam that later capabilities replace with their full version):

1. ``cloud: train large``      - the cloud trains a large next-item model on its logged history.
2. ``cloud: train small alone`` - the baseline: the device-sized model trained on labels only.
3. ``cloud: distill small``    - the large model teaches the device-sized model (Hinton KD).
4. ``cloud->device: int8``     - the small model is encoded int8 + zstd and sent to every device
                                  over the in-process transport; bytes are the real payload lengths.
5. ``device: inference``       - devices rank with the decoded model; latency from their profiles.
6. ``device->cloud: FedAvg r`` - sampled, available devices fine-tune on their fresh clicks and the
                                  cloud averages their updates, ``rounds`` times.

Each user's sequence is split in time: positions before ``cloud_cut`` are the cloud's log,
``[cloud_cut, fresh_cut)`` are fresh clicks only the device has, the rest is the test stream every
stage is scored on (full-ranking HR@10 / NDCG@10).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.recipes.demo.stages import DemoContext, run_stages
from tandem.report.results import RunResult


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and seeds of the demo; the defaults finish well under a minute on two cores."""

    n_users: int = 2000
    n_items: int = 1000
    n_clusters: int = 20
    follow_prob: float = 0.5
    seq_len: int = 60
    window: int = 8
    large_dim: int = 64
    large_hidden: int = 128
    small_dim: int = 8
    small_hidden: int = 16
    cloud_epochs: int = 4
    cloud_lr: float = 1e-2
    cloud_batch_size: int = 512
    devices_per_round: int = 100
    rounds: int = 5
    local_epochs: int = 2
    local_lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.devices_per_round > self.n_users:
            raise ConfigError(
                f"DemoConfig: devices_per_round={self.devices_per_round} exceeds n_users={self.n_users}"
            )
        if self.seq_len < 12:
            raise ConfigError(f"DemoConfig: seq_len must be >= 12 to split history/fresh/test, got {self.seq_len}")

    @property
    def cloud_cut(self) -> int:
        """First position that only the device sees (60% of each sequence is the cloud's log)."""
        return int(self.seq_len * 0.6)

    @property
    def fresh_cut(self) -> int:
        """First test position (the last 15% of each sequence)."""
        return int(self.seq_len * 0.85)


def run_demo(config: DemoConfig | None = None, progress: bool = True) -> RunResult:
    """Run every stage and return the measured result (write it with ``report.results.write_result``)."""
    config = config or DemoConfig()
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    context = DemoContext.build(config, progress=progress)
    stages, rounds = run_stages(context)
    result = RunResult(kind="demo", config=asdict(config), stages=stages, rounds=rounds)
    result.wall_clock_s = time.perf_counter() - started
    result.config["n_devices"] = len(context.fleet)
    result.config["test_examples"] = len(context.test_targets)
    result.config["threads"] = torch.get_num_threads()
    result.config["numpy"] = np.__version__
    return result
