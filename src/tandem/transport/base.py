"""The Transport protocol: the one thing algorithms see of the network.

Strategies, policies and codecs talk to a :class:`Transport`; the simulator gives them an
in-process one, the real server an HTTP one, and no algorithm is written twice (DESIGN
principle 1). A transport moves opaque ``bytes`` — an encoded envelope — labelled with a
``kind`` (``"model"``, ``"update"``, ...) and a small JSON ``meta``, and counts
``len(payload)`` on its ledger for every device the payload reaches.

Directions: the cloud sends to one device (:meth:`Transport.send_to_device`) or the same bytes to
many (:meth:`Transport.broadcast`, charged once per device); a device sends to the cloud
(:meth:`Transport.send_to_cloud`). Each side pulls what has arrived for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tandem.core.errors import PayloadError, TransportError
from tandem.core.messages import freeze_json

DEFAULT_MAX_PAYLOAD_BYTES = 256 << 20
"""Largest payload a transport accepts by default (256 MiB)."""


@dataclass(frozen=True)
class Message:
    """A payload in a mailbox; ``device_id`` is the recipient (cloud -> device) or sender (device -> cloud)."""

    device_id: int
    kind: str
    payload: bytes = field(repr=False)
    meta: Mapping[str, Any]
    sent_at: float
    arrives_at: float

    @property
    def n_bytes(self) -> int:
        return len(self.payload)


@dataclass(frozen=True)
class Receipt:
    """What one send cost: ``n_bytes`` on the wire and ``seconds`` of transfer, in simulated time.

    ``sent_at`` is when the sender handed the payload over (cloud time for cloud -> device; the
    device's own time, after its queued work, for device -> cloud); ``arrives_at`` is when the last
    byte arrived, after any wait for the device to be free and ``seconds`` of transfer.
    """

    device_id: int
    kind: str
    n_bytes: int
    seconds: float
    sent_at: float
    arrives_at: float


@dataclass(frozen=True, eq=False)
class BroadcastReceipt:
    """What a broadcast cost; arrays are aligned with ``device_ids``."""

    kind: str
    n_bytes: int
    """Bytes per device (``len(payload)``); the ledger is charged this once per device."""
    device_ids: NDArray[np.int64]
    seconds: NDArray[np.float64]
    arrives_at: NDArray[np.float64]

    @property
    def total_bytes(self) -> int:
        return self.n_bytes * len(self.device_ids)


@dataclass(frozen=True)
class TransportLedger:
    """Totals since the transport was made: bytes and messages each way, and simulated time."""

    bytes_down: int
    bytes_up: int
    messages_down: int
    messages_up: int
    now_s: float


@runtime_checkable
class Transport(Protocol):
    """Moves encoded payloads between the cloud and devices and accounts for every byte."""

    def send_to_device(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        """Cloud -> one device."""
        ...

    def broadcast(
        self, device_ids: ArrayLike, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> BroadcastReceipt:
        """Cloud -> many devices, the same bytes to each (distinct ids; charged once per device)."""
        ...

    def send_to_cloud(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        """Device -> cloud."""
        ...

    def receive_on_device(self, device_id: int, kind: str | None = None) -> list[Message]:
        """Take the messages waiting for ``device_id`` (of ``kind``, if given), oldest first."""
        ...

    def receive_on_cloud(self, kind: str | None = None, until: float | None = None) -> list[Message]:
        """Take the messages that reached the cloud (by time ``until``, if given), in arrival order."""
        ...

    @property
    def ledger(self) -> TransportLedger:
        """Bytes and messages so far."""
        ...

    def close(self) -> None:
        """Refuse further sends."""
        ...


def check_message(kind: Any, payload: Any, meta: Any, max_payload_bytes: int) -> tuple[str, bytes, Mapping[str, Any]]:
    """Validate one outgoing message for any transport; TransportError says what is wrong."""
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise TransportError(f"kind must be a non-empty string of at most 64 characters, got {kind!r}")
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TransportError(f"payload must be bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) > max_payload_bytes:
        raise TransportError(
            f"{kind!r} payload is {len(payload)} bytes, over max_payload_bytes={max_payload_bytes}; nothing sent"
        )
    try:
        frozen = freeze_json(meta, f"{kind!r} meta")
    except PayloadError as exc:
        raise TransportError(str(exc)) from None
    return kind, payload, frozen
