"""Network links: real encoded byte counts in, simulated transfer seconds out, every byte on a ledger.

The model is the simplest one that is honest about both terms that matter for small payloads and
for large ones: one round trip of latency plus serialization at the device's link rate,

    time_s = rtt_ms / 1000 + n_bytes * 8 / (mbit_per_s * 1e6)

(no slow start, loss or contention). Callers pass ``len(payload)`` of the real encoded payload, never
an estimate. Everything is vectorized over arrays of device indices, so charging a broadcast to a
million devices is a handful of numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.errors import ConfigError


def transfer_time_s(n_bytes: ArrayLike, mbit_per_s: ArrayLike, rtt_ms: ArrayLike) -> float | NDArray[np.float64]:
    """Seconds to move ``n_bytes`` over a ``mbit_per_s`` link with ``rtt_ms`` round-trip time.

    Pure and broadcasting; returns a float for scalar inputs. ConfigError on negative bytes or RTT
    and on non-positive or non-finite rates.
    """
    n = np.asarray(n_bytes, dtype=np.float64)
    rate = np.asarray(mbit_per_s, dtype=np.float64)
    rtt = np.asarray(rtt_ms, dtype=np.float64)
    if np.any(n < 0) or not np.all(np.isfinite(n)):
        raise ConfigError("transfer_time_s: n_bytes must be finite and >= 0")
    if np.any(rate <= 0) or not np.all(np.isfinite(rate)):
        raise ConfigError("transfer_time_s: mbit_per_s must be finite and > 0")
    if np.any(rtt < 0) or not np.all(np.isfinite(rtt)):
        raise ConfigError("transfer_time_s: rtt_ms must be finite and >= 0")
    out = rtt / 1e3 + n * 8.0 / (rate * 1e6)
    return float(out) if out.ndim == 0 else out


class NetworkProfile(Protocol):
    """Anything with per-device link arrays, e.g. :class:`tandem.fleet.FleetProfiles`."""

    @property
    def downlink_mbps(self) -> NDArray[np.floating]: ...
    @property
    def uplink_mbps(self) -> NDArray[np.floating]: ...
    @property
    def rtt_ms(self) -> NDArray[np.floating]: ...


@dataclass
class LinkLedger:
    """Everything a :class:`Link` has charged: totals and per-device arrays (indexed by device)."""

    bytes_down: NDArray[np.int64]
    bytes_up: NDArray[np.int64]
    messages_down: NDArray[np.int64]
    messages_up: NDArray[np.int64]
    seconds_down: NDArray[np.float64] = field(repr=False)
    seconds_up: NDArray[np.float64] = field(repr=False)

    @classmethod
    def zeros(cls, n_devices: int) -> LinkLedger:
        i, f = np.zeros(n_devices, np.int64), np.zeros(n_devices, np.float64)
        return cls(i, i.copy(), i.copy(), i.copy(), f, f.copy())

    @property
    def total_bytes_down(self) -> int:
        return int(self.bytes_down.sum())

    @property
    def total_bytes_up(self) -> int:
        return int(self.bytes_up.sum())

    @property
    def total_messages_down(self) -> int:
        return int(self.messages_down.sum())

    @property
    def total_messages_up(self) -> int:
        return int(self.messages_up.sum())


class Link:
    """Per-device downlink/uplink rates and RTTs; quotes and charges transfers by real byte counts.

    ``device_idx`` is an int or an integer array of device indices (repeats are charged each time);
    ``n_bytes`` is an int or an array broadcastable to ``device_idx``.
    """

    def __init__(self, downlink_mbps: ArrayLike, uplink_mbps: ArrayLike, rtt_ms: ArrayLike) -> None:
        down = np.asarray(downlink_mbps, dtype=np.float64).reshape(-1)
        up = np.asarray(uplink_mbps, dtype=np.float64).reshape(-1)
        rtt = np.asarray(rtt_ms, dtype=np.float64).reshape(-1)
        if not len(down) == len(up) == len(rtt):
            raise ConfigError(f"Link: {len(down)} downlink, {len(up)} uplink and {len(rtt)} RTT values")
        transfer_time_s(0, down, rtt)  # validates rates and RTTs once, so charging need not
        transfer_time_s(0, up, rtt)
        self.downlink_mbps, self.uplink_mbps, self.rtt_ms = down, up, rtt
        self.ledger = LinkLedger.zeros(len(down))

    @classmethod
    def from_profiles(cls, profiles: NetworkProfile) -> Link:
        """A link for every device of a fleet (anything with the three arrays)."""
        return cls(profiles.downlink_mbps, profiles.uplink_mbps, profiles.rtt_ms)

    @classmethod
    def instant(cls, n_devices: int) -> Link:
        """A link on which every transfer takes no time (bytes are still counted): for runs without a fleet."""
        link = cls(np.ones(n_devices), np.ones(n_devices), np.zeros(n_devices))
        link.downlink_mbps = np.full(n_devices, np.inf)
        link.uplink_mbps = np.full(n_devices, np.inf)
        return link

    @property
    def n_devices(self) -> int:
        return len(self.rtt_ms)

    def time_down(self, device_idx: ArrayLike, n_bytes: ArrayLike) -> NDArray[np.float64]:
        """Seconds for cloud -> device transfers, without charging anything."""
        idx, n = self._check(device_idx, n_bytes)
        return self._seconds(idx, n, self.downlink_mbps)

    def time_up(self, device_idx: ArrayLike, n_bytes: ArrayLike) -> NDArray[np.float64]:
        """Seconds for device -> cloud transfers, without charging anything."""
        idx, n = self._check(device_idx, n_bytes)
        return self._seconds(idx, n, self.uplink_mbps)

    def charge_down(self, device_idx: ArrayLike, n_bytes: ArrayLike) -> NDArray[np.float64]:
        """Record cloud -> device transfers on the ledger; returns their seconds."""
        idx, n = self._check(device_idx, n_bytes)
        seconds = self._seconds(idx, n, self.downlink_mbps)
        led = self.ledger
        self._record(idx, n, seconds, led.bytes_down, led.messages_down, led.seconds_down)
        return seconds

    def charge_up(self, device_idx: ArrayLike, n_bytes: ArrayLike) -> NDArray[np.float64]:
        """Record device -> cloud transfers on the ledger; returns their seconds."""
        idx, n = self._check(device_idx, n_bytes)
        seconds = self._seconds(idx, n, self.uplink_mbps)
        led = self.ledger
        self._record(idx, n, seconds, led.bytes_up, led.messages_up, led.seconds_up)
        return seconds

    def _seconds(self, idx: NDArray[np.int64], n: NDArray[np.int64], rate: NDArray[np.floating]) -> NDArray[np.float64]:
        return self.rtt_ms[idx] / 1e3 + n * 8.0 / (rate[idx] * 1e6)

    def _check(self, device_idx: ArrayLike, n_bytes: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        idx = np.asarray(device_idx)
        if idx.dtype.kind not in "iu":
            raise ConfigError(f"Link: device indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_devices):
            bad = idx[(idx < 0) | (idx >= self.n_devices)].reshape(-1)[:5].tolist()
            raise ConfigError(f"Link: device indices {bad} outside 0..{self.n_devices - 1}")
        n = np.asarray(n_bytes)
        if n.dtype.kind not in "iu" or (n.size and n.min() < 0):
            raise ConfigError("Link: n_bytes must be non-negative integers (len of the encoded payload)")
        return idx.astype(np.int64, copy=False), np.broadcast_to(n, idx.shape).astype(np.int64)

    @staticmethod
    def _record(idx: NDArray[np.int64], n: NDArray[np.int64], seconds: NDArray[np.float64], nbytes: NDArray[np.int64],
                msgs: NDArray[np.int64], secs: NDArray[np.float64]) -> None:
        idx, n = idx.reshape(-1), n.reshape(-1)
        if idx.size <= 4096:  # np.add.at is simplest for few indices, bincount is faster for many
            np.add.at(nbytes, idx, n)
            np.add.at(msgs, idx, 1)
            np.add.at(secs, idx, seconds.reshape(-1))
            return
        size = len(nbytes)
        nbytes += np.bincount(idx, weights=n, minlength=size).astype(np.int64)  # exact below 2**53
        msgs += np.bincount(idx, minlength=size)
        secs += np.bincount(idx, weights=seconds.reshape(-1), minlength=size)
