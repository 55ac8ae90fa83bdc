"""SimClock: explicit simulated time, per-device queues, no wall clock."""

import math

import numpy as np
import pytest

from tandem.core import ConfigError, SimClock


def test_advance_and_time_never_goes_back():
    clock = SimClock(start_s=10.0)
    assert clock.now == 10.0
    assert clock.advance(2.5) == 12.5
    assert clock.advance_to(20.0) == 20.0
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ConfigError):
            clock.advance(bad)
    with pytest.raises(ConfigError, match="before now"):
        clock.advance_to(19.0)
    assert clock.now == 20.0


def test_occupy_queues_work_per_device_and_wait_for_moves_cloud_time():
    clock = SimClock(4)
    end = clock.occupy(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(end, [1.0, 2.0, 3.0])
    # device 1 is busy until 2.0, so more work on it starts then, not now
    assert float(clock.occupy(1, 0.5)) == 2.5
    assert clock.idle().tolist() == [False, False, False, True]
    assert clock.wait_for([0, 1]) == 2.5
    assert clock.idle().tolist() == [True, True, False, True]
    clock.advance(10.0)
    # an idle device starts at cloud time
    assert float(clock.occupy(3, 1.0)) == 13.5
    assert clock.wait_for() == 13.5


def test_occupy_rejects_repeats_bad_durations_and_unknown_devices():
    clock = SimClock(3)
    with pytest.raises(ConfigError, match="repeat"):
        clock.occupy([0, 0], 1.0)
    with pytest.raises(ConfigError):
        clock.occupy([0], -1.0)
    with pytest.raises(ConfigError):
        clock.occupy([3], 1.0)
    assert clock.busy_until.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        clock.busy_until[0] = 5.0  # read-only view


def test_vectorized_over_many_devices():
    clock = SimClock(100_000)
    idx = np.arange(0, 100_000, 2)
    clock.occupy(idx, np.linspace(0, 1, idx.size))
    assert clock.wait_for(idx) == 1.0
    assert int(clock.idle().sum()) == 100_000
