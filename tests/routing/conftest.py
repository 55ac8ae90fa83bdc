"""Fixtures of the routing tests: a tiny synthetic population with two small trained-ish models."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from tandem.data import make_synthetic_fleet
from tandem.models.seqrec import build_seqrec
from tandem.routing import CloudTable, FactorizedDevice, ModelCloud, Streams, StreamSimulator, split_users
from tandem.routing.streams import UserSplit


@dataclass
class Tiny:
    split: UserSplit
    streams: Streams
    small: torch.nn.Module
    large: torch.nn.Module
    device: FactorizedDevice
    cloud: ModelCloud
    table: CloudTable


@pytest.fixture(scope="session")
def tiny() -> Tiny:
    """40 eval users x up to 15 steps over 60 items; untrained models (deterministic seeds) are enough."""
    fleet = make_synthetic_fleet(200, n_items=60, n_clusters=6, seq_len=16, min_seq_len=4, seed=3)
    split = split_users(fleet.sequences, seed=0)
    torch.manual_seed(0)
    small = build_seqrec("sasrec", 60, 10, "small").eval()
    large = build_seqrec("gru4rec", 60, 10, "small", dim=24, hidden=24).eval()
    streams = Streams(split.eval)
    device = FactorizedDevice.precompute(small, streams)
    cloud = ModelCloud(large, n_candidates=8)
    return Tiny(split, streams, small, large, device, cloud, CloudTable.precompute(cloud, streams))


@pytest.fixture()
def tiny_sim(tiny: Tiny) -> StreamSimulator:
    return StreamSimulator(tiny.streams, tiny.device, tiny.table, combiner="fusion", keep_steps=True)
