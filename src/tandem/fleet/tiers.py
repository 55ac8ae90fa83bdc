"""Named device tiers: ballpark distributions of compute, memory, network and availability.

Each property of a tier is lognormal around a stated median with a stated spread ``sigma`` (the
standard deviation of its natural log: sigma 0.5 puts ~68% of devices within x/÷1.65 of the median);
availability is Beta-distributed around a stated mean. These are **ballpark figures chosen by
tandem** to give a realistic spread, informed by the sources below — not measurements of any
particular population. Change them by registering your own :class:`Tier`.

Sources (numbers quoted are the sources'; network medians round them, while the compute, memory
and availability figures are tandem's order-of-magnitude choices consistent with them):

* Network — Ookla Speedtest Global Index / Speedtest Intelligence, as reported: global mobile
  download 35.96 Mbit/s, upload 11.22 Mbit/s, latency 40 ms (Global Index, Sep 2020); global
  mobile latency 28 ms (Nov 2022); global median 5G download 166.13 Mbit/s, upload 21.08 Mbit/s
  (Q3 2021, "Growing and Slowing: The State of 5G Worldwide in 2021"); for slower markets, Ookla
  Market Reports (Q2 2022, Q1 2023) give the fastest operator's median mobile download at
  12-33 Mbit/s (Libya 12.34, Cameroon 14.46, Ethiopia 32.81) and the best operator's median
  multi-server latency at 55-184 ms (Ethiopia 55 ms, Cameroon 184 ms).
* Compute — effective sustained fp32 throughput of small models (not peak FLOPS): AI Benchmark
  (Ignatov et al., "AI Benchmark: All About Deep Learning on Smartphones in 2019", ICCVW 2019)
  shows an order of magnitude or more between entry-level (Cortex-A53-class) and flagship SoCs;
  FedScale (Lai et al., ICML 2022) likewise samples client compute from AI Benchmark and network
  from MobiPerf measurements. Neurosurgeon (Kang et al., ASPLOS 2017) shows mobile-side compute
  and uplink jointly decide where to split a model, which is why both are modelled per device.
* Availability — Bonawitz et al., "Towards Federated Learning at Scale" (MLSys 2019): phones take
  part only when idle, charging and on an unmetered network, so only a fraction check in at any
  time; mains-powered IoT devices are on more often.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tandem.core.errors import ConfigError


@dataclass(frozen=True)
class LogNormal:
    """Lognormal with the given ``median`` and log-space standard deviation ``sigma``."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        if not (self.median > 0 and math.isfinite(self.median) and 0 <= self.sigma < 5):
            raise ConfigError(f"LogNormal needs median > 0 and 0 <= sigma < 5, got {self}")


@dataclass(frozen=True)
class Tier:
    """One kind of device; ``availability_mean``/``availability_concentration`` define a Beta."""

    name: str
    description: str
    compute_gflops: LogNormal
    memory_mb: LogNormal
    downlink_mbps: LogNormal
    uplink_mbps: LogNormal
    rtt_ms: LogNormal
    availability_mean: float
    availability_concentration: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.availability_mean < 1 or self.availability_concentration <= 0:
            raise ConfigError(f"tier {self.name!r}: availability mean must be in (0, 1), concentration > 0")


LOW_END_PHONE = Tier(
    "low_end_phone",
    "Entry-level Android (Cortex-A53-class cores, 2-4 GB RAM) on a congested or 4G network in a slower market.",
    compute_gflops=LogNormal(4.0, 0.5),
    memory_mb=LogNormal(3072, 0.3),
    downlink_mbps=LogNormal(12.0, 0.8),  # Ookla market reports, slower markets: 12-33 Mbit/s
    uplink_mbps=LogNormal(4.0, 0.8),
    rtt_ms=LogNormal(80.0, 0.5),  # ... and 55-184 ms multi-server latency
    availability_mean=0.15,
)
MID_RANGE_PHONE = Tier(
    "mid_range_phone",
    "Mid-range phone (Snapdragon 6/7-class, 6 GB RAM) on typical 4G/5G.",
    compute_gflops=LogNormal(15.0, 0.4),
    memory_mb=LogNormal(6144, 0.25),
    downlink_mbps=LogNormal(40.0, 0.7),  # Ookla global mobile: 35.96 down (Sep 2020)
    uplink_mbps=LogNormal(10.0, 0.7),  # ... 11.22 up
    rtt_ms=LogNormal(40.0, 0.4),  # ... 40 ms; 28 ms by Nov 2022
    availability_mean=0.25,
)
HIGH_END_PHONE = Tier(
    "high_end_phone",
    "Flagship phone (recent Snapdragon 8 / Apple A-series, 12 GB RAM) mostly on 5G.",
    compute_gflops=LogNormal(60.0, 0.4),
    memory_mb=LogNormal(12288, 0.2),
    downlink_mbps=LogNormal(150.0, 0.6),  # Ookla global median 5G: 166.13 down (Q3 2021)
    uplink_mbps=LogNormal(20.0, 0.6),  # ... 21.08 up
    rtt_ms=LogNormal(25.0, 0.4),
    availability_mean=0.35,
)
IOT_DEVICE = Tier(
    "iot_device",
    "Mains-powered embedded board (Raspberry-Pi-class Cortex-A72, ~512 MB free) on Wi-Fi or LTE-M.",
    compute_gflops=LogNormal(1.5, 0.6),
    memory_mb=LogNormal(512, 0.5),
    downlink_mbps=LogNormal(5.0, 0.8),
    uplink_mbps=LogNormal(1.5, 0.8),
    rtt_ms=LogNormal(120.0, 0.5),
    availability_mean=0.6,
)

_TIERS: dict[str, Tier] = {}


def register_tier(tier: Tier, *, replace: bool = False) -> Tier:
    """Make ``tier`` available by name to :func:`get_tier` and ``sample_fleet``'s ``mix``."""
    if tier.name in _TIERS and not replace:
        raise ConfigError(f"tier {tier.name!r} is already registered (pass replace=True to override)")
    _TIERS[tier.name] = tier
    return tier


def get_tier(name: str) -> Tier:
    """A registered tier by name; ConfigError lists the names if unknown."""
    if name not in _TIERS:
        raise ConfigError(f"unknown tier {name!r}; available: {available_tiers()}")
    return _TIERS[name]


def available_tiers() -> list[str]:
    """Registered tier names, in registration order."""
    return list(_TIERS)


for _tier in (LOW_END_PHONE, MID_RANGE_PHONE, HIGH_END_PHONE, IOT_DEVICE):
    register_tier(_tier)

DEFAULT_MIX: dict[str, float] = {
    "low_end_phone": 0.35,
    "mid_range_phone": 0.35,
    "high_end_phone": 0.2,
    "iot_device": 0.1,
}
"""Illustrative population mix used when ``sample_fleet`` gets no ``mix``."""
