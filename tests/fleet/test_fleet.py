"""Fleet: vectorized sampling with the stated tier distributions, and the per-device maths."""

import dataclasses

import numpy as np
import pytest

from tandem.core import ConfigError
from tandem.fleet import (
    DEFAULT_MIX,
    MID_RANGE_PHONE,
    FleetProfiles,
    LogNormal,
    Tier,
    available_mask,
    available_tiers,
    device_compute_time_s,
    fits_in_memory,
    get_tier,
    register_tier,
    sample_fleet,
)
from tandem.fleet import tiers as tiers_module

N = 1_000_000


@pytest.fixture(scope="module")
def big():
    return sample_fleet(N, seed=0)


def test_a_million_devices_are_arrays_of_the_right_types(big):
    assert len(big) == N
    assert big.tier.dtype == np.int16 and big.tier.shape == (N,)
    for name in ("compute_gflops", "memory_mb", "uplink_mbps", "downlink_mbps", "rtt_ms", "availability"):
        arr = getattr(big, name)
        assert arr.dtype == np.float32 and arr.shape == (N,) and not arr.flags.writeable, name
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0), name
    assert big.tier_names == tuple(DEFAULT_MIX)
    assert np.all(big.availability <= 1)


def test_tier_mix_matches_the_requested_proportions(big):
    counts = big.tier_counts()
    for name, p in DEFAULT_MIX.items():
        sd = np.sqrt(N * p * (1 - p))
        assert abs(counts[name] - N * p) < 5 * sd, (name, counts[name])


def test_each_tier_follows_its_stated_lognormal(big):
    for name in big.tier_names:
        tier, mask = get_tier(name), big.in_tier(name)
        for field in ("compute_gflops", "downlink_mbps", "rtt_ms"):
            spec = getattr(tier, field)
            logs = np.log(getattr(big, field)[mask].astype(np.float64))
            assert np.median(logs) == pytest.approx(np.log(spec.median), abs=0.02), (name, field)
            assert logs.std() == pytest.approx(spec.sigma, rel=0.02), (name, field)
        assert big.availability[mask].mean() == pytest.approx(tier.availability_mean, abs=0.005)


def test_sampling_is_reproducible_and_custom_mixes_work():
    a, b, c = sample_fleet(1000, seed=5), sample_fleet(1000, seed=5), sample_fleet(1000, seed=6)
    assert np.array_equal(a.compute_gflops, b.compute_gflops) and np.array_equal(a.tier, b.tier)
    assert not np.array_equal(a.compute_gflops, c.compute_gflops)
    only_iot = sample_fleet(500, mix={"iot_device": 1.0, "high_end_phone": 0.0})
    assert only_iot.tier_counts() == {"iot_device": 500, "high_end_phone": 0}
    assert len(sample_fleet(0)) == 0
    with pytest.raises(ConfigError, match="unknown tier 'desktop'"):
        sample_fleet(10, mix={"desktop": 1.0})
    for bad in ({"iot_device": 0.0}, {"iot_device": -1.0}, {}):
        with pytest.raises(ConfigError):
            sample_fleet(10, mix=bad)
    with pytest.raises(ConfigError):
        sample_fleet(-1)


def test_compute_time_availability_and_memory_are_per_device():
    fleet = FleetProfiles(
        tier=[0, 1],
        compute_gflops=[2.0, 50.0],
        memory_mb=[1000.0, 8000.0],
        uplink_mbps=[1.0, 10.0],
        downlink_mbps=[5.0, 50.0],
        rtt_ms=[100.0, 20.0],
        availability=[0.0, 1.0],
        tier_names=("slow", "fast"),
    )
    np.testing.assert_allclose(device_compute_time_s(1e9, fleet), [0.5, 0.02])
    np.testing.assert_allclose(device_compute_time_s([4e9], fleet, idx=[1]), [0.08])
    assert available_mask(fleet, 0).tolist() == [False, True]
    assert fits_in_memory(300e6, fleet).tolist() == [False, True]  # a quarter of 1000 MB is 250 MB
    with pytest.raises(ConfigError):
        device_compute_time_s(-1.0, fleet)
    sub = fleet.subset([1])
    assert len(sub) == 1 and sub.compute_gflops.tolist() == [50.0] and sub.tier_names == ("slow", "fast")
    assert len(fleet.subset(np.array([True, False]))) == 1


def test_availability_draws_match_probabilities(big):
    mask = available_mask(big, np.random.default_rng(1))
    assert mask.dtype == bool and mask.shape == (N,)
    assert mask.mean() == pytest.approx(big.availability.mean(), abs=0.003)


def test_profiles_validate_and_are_immutable():
    good = {
        "tier": [0], "compute_gflops": [1.0], "memory_mb": [1.0], "uplink_mbps": [1.0],
        "downlink_mbps": [1.0], "rtt_ms": [1.0], "availability": [0.5], "tier_names": ("t",),
    }  # fmt: skip
    fleet = FleetProfiles(**good)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fleet.tier = np.array([0])
    with pytest.raises(ValueError):
        fleet.rtt_ms[0] = 2.0
    for field, value in (("compute_gflops", [0.0]), ("rtt_ms", [np.nan]), ("availability", [1.5]),
                         ("tier", [1]), ("memory_mb", [1.0, 2.0]), ("uplink_mbps", [[1.0]])):  # fmt: skip
        with pytest.raises(ConfigError):
            FleetProfiles(**{**good, field: value})
    with pytest.raises(ConfigError):
        fleet.subset([3])
    with pytest.raises(ConfigError):
        fleet.in_tier("other")


def test_tiers_are_registered_by_name(monkeypatch):
    monkeypatch.setattr(tiers_module, "_TIERS", dict(tiers_module._TIERS))
    assert available_tiers()[:4] == ["low_end_phone", "mid_range_phone", "high_end_phone", "iot_device"]
    assert get_tier("mid_range_phone") is MID_RANGE_PHONE
    kiosk = Tier("kiosk", "wired", LogNormal(20, 0.1), LogNormal(4096, 0.1), LogNormal(500, 0.1),
                 LogNormal(100, 0.1), LogNormal(5, 0.1), availability_mean=0.9)  # fmt: skip
    register_tier(kiosk)
    with pytest.raises(ConfigError, match="already registered"):
        register_tier(kiosk)
    assert sample_fleet(10, mix={"kiosk": 1}).tier_names == ("kiosk",)
    with pytest.raises(ConfigError):
        LogNormal(-1.0, 0.1)
