"""The simulator's transport: real encoded bytes through in-memory mailboxes, on simulated time.

Nothing is estimated: the payload an algorithm hands over is the payload the other side gets,
and ``len(payload)`` is charged to the :class:`~tandem.core.link.Link` for every device it reaches.
Transfers occupy the device on the :class:`~tandem.core.clock.SimClock` (a transfer starts when the
device is free, never before cloud time ``now``), so compute and network queue up per device.
Broadcasts are stored once with an array of recipients, not copied into a million mailboxes.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.clock import SimClock
from tandem.core.errors import ConfigError, TransportError
from tandem.core.link import Link
from tandem.fleet.profiles import FleetProfiles
from tandem.transport.base import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    BroadcastReceipt,
    Message,
    Receipt,
    TransportLedger,
    check_message,
)


@dataclass
class _Broadcast:
    """One broadcast, pending for the recipients that have not taken it yet."""

    seq: int
    kind: str
    payload: bytes
    meta: Mapping[str, Any]
    sent_at: float
    recipients: NDArray[np.int64]  # sorted
    arrives_at: NDArray[np.float64]  # aligned with recipients
    taken: NDArray[np.bool_] = field(init=False)
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.taken = np.zeros(len(self.recipients), dtype=bool)
        self.left = len(self.recipients)


class InProcessTransport:
    """A :class:`~tandem.transport.base.Transport` for simulation over a fleet of devices ``0..n-1``.

    ``link`` defaults to ``Link.from_profiles(fleet)`` and ``clock`` to ``SimClock(len(fleet))``;
    both must cover the same devices as ``fleet``. Without a fleet, ``link`` says how many devices there
    are (e.g. ``Link.instant(n)``: bytes are counted, transfers take no time). Unknown devices, repeated
    broadcast recipients, bad kinds/meta and payloads over ``max_payload_bytes`` raise :class:`TransportError` before
    anything is charged or delivered.
    """

    def __init__(
        self,
        fleet: FleetProfiles | None,
        link: Link | None = None,
        clock: SimClock | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if fleet is None and link is None:
            raise ConfigError("InProcessTransport needs a fleet of device profiles or a link")
        if fleet is not None:
            link = Link.from_profiles(fleet) if link is None else link
        assert link is not None
        n = len(fleet) if fleet is not None else link.n_devices
        self.link = link
        self.clock = SimClock(n) if clock is None else clock
        if self.link.n_devices != n or self.clock.n_devices != n:
            raise ConfigError(
                f"InProcessTransport: fleet has {n} devices, link {self.link.n_devices}, clock {self.clock.n_devices}"
            )
        if max_payload_bytes <= 0:
            raise ConfigError(f"max_payload_bytes must be > 0, got {max_payload_bytes}")
        self.n_devices = n
        self.max_payload_bytes = int(max_payload_bytes)
        self._seq = itertools.count()
        self._direct: dict[int, deque[tuple[int, Message]]] = {}
        self._broadcasts: list[_Broadcast] = []
        self._cloud: list[Message] = []
        self._closed = False

    # -- sending ----------------------------------------------------------------------------------
    def send_to_device(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        kind, payload, meta = self._check_send(kind, payload, meta)
        d = self._device(device_id)
        sent = self.clock.now
        seconds = float(self.link.charge_down(d, len(payload)))
        arrives = float(self.clock.occupy(d, seconds))
        self._direct.setdefault(d, deque()).append((next(self._seq), Message(d, kind, payload, meta, sent, arrives)))
        return Receipt(d, kind, len(payload), seconds, sent, arrives)

    def broadcast(
        self, device_ids: ArrayLike, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> BroadcastReceipt:
        kind, payload, meta = self._check_send(kind, payload, meta)
        ids = self._devices(device_ids)
        order = np.argsort(ids, kind="stable")
        if ids.size > 1 and np.any(np.diff(ids[order]) == 0):
            raise TransportError("broadcast: device ids repeat; each device is sent (and charged) once")
        sent = self.clock.now
        seconds = self.link.charge_down(ids, len(payload))
        arrives = self.clock.occupy(ids, seconds)
        if ids.size:
            self._broadcasts.append(_Broadcast(next(self._seq), kind, payload, meta, sent, ids[order], arrives[order]))
        return BroadcastReceipt(kind, len(payload), ids, seconds, arrives)

    def send_to_cloud(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        kind, payload, meta = self._check_send(kind, payload, meta)
        d = self._device(device_id)
        sent = max(self.clock.now, float(self.clock.busy_until[d]))
        seconds = float(self.link.charge_up(d, len(payload)))
        arrives = float(self.clock.occupy(d, seconds))
        self._cloud.append(Message(d, kind, payload, meta, sent, arrives))
        return Receipt(d, kind, len(payload), seconds, sent, arrives)

    def send_many_to_cloud(
        self,
        device_ids: ArrayLike,
        kind: str,
        payloads: list[bytes],
        metas: list[Mapping[str, Any]],
    ) -> NDArray[np.float64]:
        """Many devices -> cloud at once (distinct devices; the same as one :meth:`send_to_cloud` each, with
        the link charged and the clock advanced in one vectorized step); returns the arrival times."""
        ids = self._devices(device_ids)
        if not len(ids) == len(payloads) == len(metas):
            raise TransportError(
                f"send_many_to_cloud: {len(ids)} devices, {len(payloads)} payloads, {len(metas)} metas"
            )
        if len(np.unique(ids)) != len(ids):
            raise TransportError("send_many_to_cloud: device ids repeat; send one message per device")
        checked = [self._check_send(kind, payload, meta) for payload, meta in zip(payloads, metas, strict=True)]
        sizes = np.array([len(payload) for _, payload, _ in checked], dtype=np.int64)
        sent = np.maximum(self.clock.now, self.clock.busy_until[ids])
        seconds = self.link.charge_up(ids, sizes)
        arrives = self.clock.occupy(ids, seconds)
        for d, (k, payload, meta), t0, t1 in zip(ids.tolist(), checked, sent.tolist(), arrives.tolist(), strict=True):
            self._cloud.append(Message(d, k, payload, meta, t0, t1))
        return np.asarray(arrives, dtype=np.float64)

    # -- receiving --------------------------------------------------------------------------------
    def receive_on_device(self, device_id: int, kind: str | None = None) -> list[Message]:
        """Take what waits for ``device_id``; it has arrived by the device's own (busy-until) time."""
        d = self._device(device_id)
        found: list[tuple[int, Message]] = []
        box = self._direct.get(d)
        if box:
            keep = deque(item for item in box if kind is not None and item[1].kind != kind)
            found.extend(item for item in box if kind is None or item[1].kind == kind)
            self._direct[d] = keep
        for b in self._broadcasts:
            if kind is not None and b.kind != kind:
                continue
            pos = int(np.searchsorted(b.recipients, d))
            if pos < len(b.recipients) and b.recipients[pos] == d and not b.taken[pos]:
                b.taken[pos] = True
                b.left -= 1
                found.append((b.seq, Message(d, b.kind, b.payload, b.meta, b.sent_at, float(b.arrives_at[pos]))))
        self._broadcasts = [b for b in self._broadcasts if b.left]
        return [msg for _, msg in sorted(found, key=lambda item: item[0])]

    def receive_many_on_device(self, device_ids: ArrayLike, kind: str | None = None) -> list[list[Message]]:
        """:meth:`receive_on_device` for each of ``device_ids`` (distinct), with one vectorized lookup per
        pending broadcast instead of one per device: what a simulator playing a whole round's devices calls."""
        ids = self._devices(device_ids)
        if len(np.unique(ids)) != len(ids):
            raise TransportError("receive_many_on_device: device ids repeat")
        found: list[list[tuple[int, Message]]] = [[] for _ in range(len(ids))]
        if self._direct:
            for k, d in enumerate(ids.tolist()):
                box = self._direct.get(d)
                if box:
                    found[k].extend(item for item in box if kind is None or item[1].kind == kind)
                    self._direct[d] = deque(item for item in box if kind is not None and item[1].kind != kind)
        for b in self._broadcasts:
            if (kind is not None and b.kind != kind) or not len(ids):
                continue
            pos = np.minimum(np.searchsorted(b.recipients, ids), len(b.recipients) - 1)
            hit = (b.recipients[pos] == ids) & ~b.taken[pos]
            b.taken[pos[hit]] = True
            b.left -= int(hit.sum())
            for k, p in zip(np.flatnonzero(hit).tolist(), pos[hit].tolist(), strict=True):
                found[k].append((b.seq, Message(int(ids[k]), b.kind, b.payload, b.meta, b.sent_at,
                                                float(b.arrives_at[p]))))
        self._broadcasts = [b for b in self._broadcasts if b.left]
        return [[msg for _, msg in sorted(items, key=lambda item: item[0])] for items in found]

    def receive_on_cloud(self, kind: str | None = None, until: float | None = None) -> list[Message]:
        """Take messages that reached the cloud, in arrival order, and advance cloud time.

        With ``until=None`` the cloud waits for every pending message (time moves to the last
        arrival); with ``until=t`` it waits until ``t`` and takes only what arrived by then —
        stragglers stay pending.
        """
        limit = np.inf if until is None else float(until)
        take = [m for m in self._cloud if (kind is None or m.kind == kind) and m.arrives_at <= limit]
        taken = {id(m) for m in take}
        self._cloud = [m for m in self._cloud if id(m) not in taken]
        take.sort(key=lambda m: m.arrives_at)
        if until is not None:
            self.clock.advance_to(max(self.clock.now, limit))
        elif take:
            self.clock.advance_to(max(self.clock.now, take[-1].arrives_at))
        return take

    # -- bookkeeping ------------------------------------------------------------------------------
    @property
    def ledger(self) -> TransportLedger:
        led = self.link.ledger
        return TransportLedger(
            led.total_bytes_down, led.total_bytes_up, led.total_messages_down, led.total_messages_up, self.clock.now
        )

    def close(self) -> None:
        self._closed = True

    def _check_send(self, kind: Any, payload: Any, meta: Any) -> tuple[str, bytes, Mapping[str, Any]]:
        if self._closed:
            raise TransportError("transport is closed")
        return check_message(kind, payload, meta, self.max_payload_bytes)

    def _device(self, device_id: Any) -> int:
        if isinstance(device_id, bool) or not isinstance(device_id, int | np.integer):
            raise TransportError(f"device id must be an int, got {device_id!r}")
        if not 0 <= device_id < self.n_devices:
            raise TransportError(f"unknown device {device_id}: this fleet has devices 0..{self.n_devices - 1}")
        return int(device_id)

    def _devices(self, device_ids: ArrayLike) -> NDArray[np.int64]:
        ids = np.asarray(device_ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise TransportError(f"device ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
        bad = ids[(ids < 0) | (ids >= self.n_devices)]
        if bad.size:
            raise TransportError(
                f"unknown devices {bad[:5].tolist()} ({bad.size} in all): this fleet has 0..{self.n_devices - 1}"
            )
        return ids.astype(np.int64)
