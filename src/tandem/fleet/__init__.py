"""tandem.fleet: device populations as arrays — profiles, named tiers, vectorized sampling."""

from tandem.fleet.profiles import FleetProfiles
from tandem.fleet.sampling import available_mask, device_compute_time_s, fits_in_memory, sample_fleet
from tandem.fleet.tiers import (
    DEFAULT_MIX,
    HIGH_END_PHONE,
    IOT_DEVICE,
    LOW_END_PHONE,
    MID_RANGE_PHONE,
    LogNormal,
    Tier,
    available_tiers,
    get_tier,
    register_tier,
)

__all__ = [
    "DEFAULT_MIX",
    "HIGH_END_PHONE",
    "IOT_DEVICE",
    "LOW_END_PHONE",
    "MID_RANGE_PHONE",
    "FleetProfiles",
    "LogNormal",
    "Tier",
    "available_mask",
    "available_tiers",
    "device_compute_time_s",
    "fits_in_memory",
    "get_tier",
    "register_tier",
    "sample_fleet",
]
