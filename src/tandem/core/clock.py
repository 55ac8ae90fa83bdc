"""A simulated clock: cloud time plus a busy-until time per device. It never reads wall time.

Simulations advance it explicitly, so runs are reproducible and a 10-minute straggler costs
nothing real. Device timelines are one numpy array, so a round over a million devices is a few
vector operations: :meth:`SimClock.occupy` queues work (compute, transfers) on devices and
:meth:`SimClock.wait_for` moves cloud time to when a set of devices is done.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.errors import ConfigError


class SimClock:
    """Simulated seconds since ``start_s``; ``busy_until[d]`` is when device ``d`` is next free."""

    def __init__(self, n_devices: int = 0, start_s: float = 0.0) -> None:
        if n_devices < 0:
            raise ConfigError(f"SimClock: n_devices must be >= 0, got {n_devices}")
        if not math.isfinite(start_s):
            raise ConfigError(f"SimClock: start_s must be finite, got {start_s}")
        self._now = float(start_s)
        self._busy = np.full(int(n_devices), self._now, dtype=np.float64)

    @property
    def now(self) -> float:
        """Current cloud time in simulated seconds."""
        return self._now

    @property
    def n_devices(self) -> int:
        return len(self._busy)

    @property
    def busy_until(self) -> NDArray[np.float64]:
        """Read-only view of every device's busy-until time."""
        view = self._busy.view()
        view.flags.writeable = False
        return view

    def advance(self, dt: float) -> float:
        """Move cloud time forward by ``dt >= 0`` seconds; returns the new time."""
        if not (math.isfinite(dt) and dt >= 0):
            raise ConfigError(f"SimClock.advance: dt must be finite and >= 0, got {dt}")
        self._now += float(dt)
        return self._now

    def advance_to(self, t: float) -> float:
        """Move cloud time to ``t``; time never goes back (ConfigError if ``t < now``)."""
        if not (math.isfinite(t) and t >= self._now):
            raise ConfigError(f"SimClock.advance_to: t={t} is before now={self._now} or not finite")
        self._now = float(t)
        return self._now

    def occupy(self, device_idx: ArrayLike, duration_s: ArrayLike) -> NDArray[np.float64]:
        """Queue ``duration_s`` of work on each device (starting when it is free, not before now).

        Returns the finish times. Indices must be unique within one call, so each device's work is
        unambiguous; ``duration_s`` is a scalar or one value per index.
        """
        idx = self._indices(device_idx)
        dur = np.broadcast_to(np.asarray(duration_s, dtype=np.float64), idx.shape)
        if dur.size and not (np.all(np.isfinite(dur)) and dur.min() >= 0):
            raise ConfigError("SimClock.occupy: durations must be finite and >= 0")
        end = np.maximum(self._busy[idx], self._now) + dur
        self._busy[idx] = end
        return end

    def idle(self, device_idx: ArrayLike | None = None) -> NDArray[np.bool_]:
        """Whether each device (all if ``None``) is free at the current cloud time."""
        busy = self._busy if device_idx is None else self._busy[self._indices(device_idx, unique=False)]
        return busy <= self._now

    def wait_for(self, device_idx: ArrayLike | None = None) -> float:
        """Advance cloud time until the given devices (all if ``None``) are free; returns it."""
        busy = self._busy if device_idx is None else self._busy[self._indices(device_idx, unique=False)]
        if busy.size:
            self._now = max(self._now, float(busy.max()))
        return self._now

    def _indices(self, device_idx: ArrayLike, unique: bool = True) -> NDArray[np.int64]:
        idx = np.asarray(device_idx)
        if idx.dtype.kind not in "iu":
            raise ConfigError(f"SimClock: device indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_devices):
            raise ConfigError(f"SimClock: device index outside 0..{self.n_devices - 1}")
        if unique and idx.size > 1 and np.bincount(idx.reshape(-1), minlength=self.n_devices).max() > 1:
            raise ConfigError("SimClock.occupy: device indices repeat within one call")
        return idx.astype(np.int64, copy=False)
