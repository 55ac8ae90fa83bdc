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

import numpy as np
import torch
from pydantic import Field, model_validator

from tandem.recipes._options import RecipeConfig, cli
from tandem.recipes.demo.stages import DemoContext, run_stages
from tandem.report.results import RunResult


class DemoConfig(RecipeConfig):
    """Sizes and seeds of the demo; the defaults finish well under a minute on two cores."""

    n_users: int = Field(2000, ge=50, description="Synthetic users (one device each).",
                         json_schema_extra=cli("--users"))
    n_items: int = Field(1000, ge=2, description="Items in the synthetic catalogue.")
    n_clusters: int = Field(20, ge=1, description="Taste clusters of the synthetic users.")
    follow_prob: float = Field(0.5, ge=0, le=1, description="Chance that a click follows the user's cluster.")
    seq_len: int = Field(60, ge=12, description="Clicks per user (split into cloud log, fresh clicks and test).")
    window: int = Field(8, ge=1, description="Clicks a model reads to predict the next one.")
    large_dim: int = Field(64, ge=1, description="Embedding width of the cloud's large model.")
    large_hidden: int = Field(128, ge=1, description="Hidden width of the cloud's large model.")
    small_dim: int = Field(8, ge=1, description="Embedding width of the device model.")
    small_hidden: int = Field(16, ge=1, description="Hidden width of the device model.")
    cloud_epochs: int = Field(4, ge=1, description="Epochs of every cloud-side training stage.")
    cloud_lr: float = Field(1e-2, gt=0, description="Adam step of the cloud-side training.")
    cloud_batch_size: int = Field(512, ge=1, description="Batch size of the cloud-side training.")
    devices_per_round: int = Field(100, ge=2, description="Devices sampled per federated round.")
    rounds: int = Field(5, ge=1, description="Federated rounds.")
    local_epochs: int = Field(2, ge=1, description="Epochs each device trains per round.")
    local_lr: float = Field(0.05, gt=0, description="SGD step of the devices' local training.")
    local_batch_size: int = Field(16, ge=1, description="Batch size of the devices' local training.")
    seed: int = Field(0, description="Seed of everything random.")

    @model_validator(mode="after")
    def _fits(self) -> DemoConfig:
        if self.devices_per_round > self.n_users:
            raise ValueError(f"devices_per_round={self.devices_per_round} exceeds n_users={self.n_users}")
        return self

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
    result = RunResult(kind="demo", config=config.to_dict(), stages=stages, rounds=rounds)
    result.wall_clock_s = time.perf_counter() - started
    result.config["n_devices"] = len(context.fleet)
    result.config["test_examples"] = len(context.test_targets)
    result.config["threads"] = torch.get_num_threads()
    result.config["numpy"] = np.__version__
    return result
