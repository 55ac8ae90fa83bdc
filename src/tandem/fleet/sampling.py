"""Sampling device populations and the pure per-device maths the simulator needs from them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.errors import ConfigError
from tandem.fleet.profiles import FleetProfiles
from tandem.fleet.tiers import DEFAULT_MIX, get_tier

_LOGNORMAL_FIELDS = ("compute_gflops", "memory_mb", "uplink_mbps", "downlink_mbps", "rtt_ms")


def sample_fleet(n: int, mix: Mapping[str, float] | None = None, seed: int = 0) -> FleetProfiles:
    """``n`` devices drawn from the registered tiers in proportions ``mix`` (normalised weights).

    Vectorized: one draw per property for the whole fleet (10**6 devices take a fraction of a
    second). Within a tier, properties are independent lognormals around the tier's medians;
    correlation between properties comes from the tier. Same ``seed``, same fleet.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(f"sample_fleet: n must be a non-negative int, got {n!r}")
    mix = dict(DEFAULT_MIX if mix is None else mix)
    if not mix:
        raise ConfigError("sample_fleet: mix is empty")
    tiers = [get_tier(name) for name in mix]
    weights = np.array(list(mix.values()), dtype=np.float64)
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise ConfigError(f"sample_fleet: mix weights must be finite, >= 0 and not all 0, got {mix}")
    rng = np.random.default_rng(seed)
    tier = rng.choice(len(tiers), size=int(n), p=weights / weights.sum()).astype(np.int16)
    arrays: dict[str, NDArray[Any]] = {}
    for name in _LOGNORMAL_FIELDS:
        log_median = np.log([getattr(t, name).median for t in tiers]).astype(np.float32)
        sigma = np.array([getattr(t, name).sigma for t in tiers], dtype=np.float32)
        z = rng.standard_normal(int(n), dtype=np.float32)
        arrays[name] = np.exp(log_median[tier] + sigma[tier] * z)
    mean = np.array([t.availability_mean for t in tiers])
    conc = np.array([t.availability_concentration for t in tiers])
    arrays["availability"] = rng.beta(mean[tier] * conc[tier], (1 - mean[tier]) * conc[tier]).astype(np.float32)
    return FleetProfiles(tier=tier, **arrays, tier_names=tuple(mix))


def device_compute_time_s(
    flops: ArrayLike, profiles: FleetProfiles, idx: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Seconds each device (all, or those at ``idx``) needs for ``flops`` floating-point operations.

    Pure: ``flops / (compute_gflops * 1e9)``; ``flops`` is a scalar or one value per device.
    """
    f = np.asarray(flops, dtype=np.float64)
    if not (np.all(np.isfinite(f)) and np.all(f >= 0)):
        raise ConfigError("device_compute_time_s: flops must be finite and >= 0")
    gflops = profiles.compute_gflops if idx is None else profiles.compute_gflops[np.asarray(idx)]
    return f / (gflops.astype(np.float64) * 1e9)


def available_mask(profiles: FleetProfiles, rng: np.random.Generator | int | None = None) -> NDArray[np.bool_]:
    """One Bernoulli draw per device with its ``availability``: who can take part right now."""
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return gen.random(len(profiles), dtype=np.float32) < profiles.availability


def fits_in_memory(n_bytes: ArrayLike, profiles: FleetProfiles, fraction: float = 0.25) -> NDArray[np.bool_]:
    """Whether an ``n_bytes`` model fits in ``fraction`` of each device's RAM (apps get a share, not all)."""
    if not 0 < fraction <= 1 or not math.isfinite(fraction):
        raise ConfigError(f"fits_in_memory: fraction must be in (0, 1], got {fraction}")
    return np.asarray(n_bytes, dtype=np.float64) <= profiles.memory_mb.astype(np.float64) * 1e6 * fraction
