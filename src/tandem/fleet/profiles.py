"""A fleet of devices as arrays: one numpy array per property, one entry per device.

Device populations are arrays, not a Python object per device (DESIGN principle 3), so a million
devices cost ~25 MB and every per-device computation is a vector operation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.errors import ConfigError

_FLOAT_FIELDS = ("compute_gflops", "memory_mb", "uplink_mbps", "downlink_mbps", "rtt_ms", "availability")


@dataclass(frozen=True, eq=False)
class FleetProfiles:
    """Per-device capabilities; arrays are float32 (tier: int16), 1-D, equal length, read-only.

    ``compute_gflops`` is effective sustained GFLOP/s for small-model work (not peak),
    ``memory_mb`` device RAM, ``uplink_mbps``/``downlink_mbps`` link rates in Mbit/s, ``rtt_ms``
    round-trip time, ``availability`` the probability a device can take part when asked (per round).
    ``tier[i]`` indexes ``tier_names``.
    """

    tier: NDArray[np.int16]
    compute_gflops: NDArray[np.float32]
    memory_mb: NDArray[np.float32]
    uplink_mbps: NDArray[np.float32]
    downlink_mbps: NDArray[np.float32]
    rtt_ms: NDArray[np.float32]
    availability: NDArray[np.float32]
    tier_names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tier_names", tuple(self.tier_names))
        n = None
        for f in fields(self):
            if f.name == "tier_names":
                continue
            arr = np.array(getattr(self, f.name), dtype=np.int16 if f.name == "tier" else np.float32)
            if arr.ndim != 1:
                raise ConfigError(f"FleetProfiles.{f.name} must be 1-D, got shape {arr.shape}")
            if n is not None and len(arr) != n:
                raise ConfigError(f"FleetProfiles.{f.name} has {len(arr)} entries, expected {n}")
            n = len(arr)
            arr.flags.writeable = False
            object.__setattr__(self, f.name, arr)
        if self.tier.size and (self.tier.min() < 0 or self.tier.max() >= len(self.tier_names)):
            raise ConfigError(f"FleetProfiles.tier must index tier_names ({len(self.tier_names)} names)")
        for name in _FLOAT_FIELDS[:-1]:
            arr = getattr(self, name)
            if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
                raise ConfigError(f"FleetProfiles.{name} must be finite and > 0 for every device")
        if not np.all((self.availability >= 0) & (self.availability <= 1)):
            raise ConfigError("FleetProfiles.availability must lie in [0, 1]")

    def __len__(self) -> int:
        return len(self.tier)

    def subset(self, idx: ArrayLike) -> FleetProfiles:
        """The devices at integer indices ``idx`` (or where boolean mask ``idx`` is true), in that order."""
        sel = np.asarray(idx)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ConfigError(f"subset: boolean mask of shape {sel.shape}, fleet has {len(self)} devices")
        elif sel.dtype.kind not in "iu":
            raise ConfigError(f"subset: indices must be integers or a boolean mask, got dtype {sel.dtype}")
        elif sel.size and (sel.min() < -len(self) or sel.max() >= len(self)):
            raise ConfigError(f"subset: index outside 0..{len(self) - 1}")
        arrays = {name: getattr(self, name)[sel] for name in ("tier", *_FLOAT_FIELDS)}
        return FleetProfiles(**arrays, tier_names=self.tier_names)

    def tier_counts(self) -> dict[str, int]:
        """How many devices each tier has."""
        counts = np.bincount(self.tier, minlength=len(self.tier_names))
        return {name: int(c) for name, c in zip(self.tier_names, counts, strict=True)}

    def in_tier(self, name: str) -> NDArray[np.bool_]:
        """Boolean mask of the devices in tier ``name``."""
        if name not in self.tier_names:
            raise ConfigError(f"unknown tier {name!r}; this fleet has {self.tier_names}")
        return self.tier == self.tier_names.index(name)
