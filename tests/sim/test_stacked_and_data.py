"""Stacked functional MLPs and selectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.fleet import FleetProfiles
from tandem.sim.selection import AvailabilitySelector, ScheduleSelector, UniformSelector
from tandem.sim.stacked import StackedMLP

from .conftest import make_mlp


@pytest.mark.parametrize(
    "module",
    [
        make_mlp(),
        nn.Linear(8, 3),
        nn.Sequential(nn.Sequential(nn.Linear(8, 5), nn.GELU()), nn.Dropout(0.0), nn.Linear(5, 2, bias=False)),
    ],
)
def test_stacked_forward_equals_the_module(module):
    spec = StackedMLP.from_module(module)
    assert spec is not None
    x = torch.randn(3, 6, 8)
    params = {k: v.unsqueeze(0).expand(3, *v.shape) for k, v in module.state_dict().items()}
    with torch.no_grad():
        torch.testing.assert_close(spec.forward(params, x), module(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(spec.forward_single(module.state_dict(), x[0]), module(x[0]))


@pytest.mark.parametrize(
    "module",
    [
        nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4)),
        nn.Sequential(nn.Linear(8, 4), nn.Dropout(0.5)),
        nn.Conv1d(1, 2, 3),
        nn.ReLU(),
    ],
)
def test_unstackable_modules(module):
    assert StackedMLP.from_module(module) is None


def test_flops_of_the_digits_mlp():
    spec = StackedMLP.from_module(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
    assert spec.forward_flops() == 2 * 64 * 64 + 64 + 2 * 64 * 10 + 10


def test_schedule_selector_replays_and_checks():
    sel = ScheduleSelector([[3, 1], [0, 2]])
    assert sel.select(1, 4, 2).tolist() == [1, 3]
    with pytest.raises(ConfigError, match="no entry for round 3"):
        sel.select(3, 4, 2)
    with pytest.raises(ConfigError, match="outside"):
        ScheduleSelector([[5]]).select(1, 4, 1)
    with pytest.raises(ConfigError, match="twice"):
        ScheduleSelector([[1, 1]])


def test_uniform_selector_state_roundtrip():
    a = UniformSelector(7)
    a.select(1, 50, 5)
    state = a.state_dict()
    expected = a.select(2, 50, 5)
    b = UniformSelector(0)
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.select(2, 50, 5), expected)
    with pytest.raises(ConfigError, match="cannot select 60"):
        a.select(3, 50, 60)


def test_availability_selector_picks_only_online_devices():
    n = 200
    availability = np.where(np.arange(n) < 100, 1.0, 0.0)
    fleet = FleetProfiles(
        tier=np.zeros(n, np.int16), compute_gflops=np.ones(n), memory_mb=np.ones(n), uplink_mbps=np.ones(n),
        downlink_mbps=np.ones(n), rtt_ms=np.ones(n), availability=availability, tier_names=("t",),
    )
    sel = AvailabilitySelector(fleet, seed=0)
    for r in range(1, 6):
        ids = sel.select(r, n, 20)
        assert len(ids) == 20 and ids.max() < 100 and np.all(np.diff(ids) > 0)
    assert len(sel.select(6, n, 150)) == 100  # fewer online than asked: all of them
