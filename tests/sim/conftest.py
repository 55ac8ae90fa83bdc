"""Fixtures of the simulator tests: a small uneven population and the peer workload (if present)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tandem.data.clients import PartitionedData

REPO = Path(__file__).resolve().parents[2]


def find_peers_dir() -> Path | None:
    """``../shared/peers`` beside the checkout, else ``$TANDEM_DATA/../peers``; None if absent."""
    candidates = [REPO.parent / "shared" / "peers"]
    if os.environ.get("TANDEM_DATA"):
        candidates.append(Path(os.environ["TANDEM_DATA"]).parent / "peers")
    return next((p for p in candidates if (p / "workload.json").exists()), None)


@pytest.fixture(scope="session")
def peers_dir() -> Path:
    path = find_peers_dir()
    if path is None:
        pytest.skip("peer workload (../shared/peers) not found")
    return path


def make_mlp(seed: int = 0, n_in: int = 8, hidden: int = 16, n_out: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


@pytest.fixture
def small_data() -> PartitionedData:
    """12 clients of sizes 0..40 (one empty, several with a partial last batch), 8 features, 4 classes."""
    rng = np.random.default_rng(0)
    sizes = [0, 3, 16, 17, 40, 1, 9, 33, 12, 5, 20, 7]
    n = sum(sizes)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = rng.integers(0, 4, n)
    bounds = np.cumsum([0, *sizes])
    parts = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(sizes))]
    return PartitionedData(x, y, parts)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests run tiny tensors: one intra-op thread is faster, and far faster on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
