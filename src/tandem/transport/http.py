"""The real system's transport: the :class:`~tandem.transport.base.Transport` protocol over HTTP to a tandem server.

Algorithms written against ``Transport`` (:class:`~tandem.federated.rounds.RoundLoop`,
:class:`~tandem.device.trainer.DeviceTrainer`, the helpers of :mod:`tandem.transport.messaging`) run
unchanged: the cloud side (send, broadcast, receive on cloud) uses the server's admin mailbox with the
admin token; the device side (send to cloud, receive on device) uses each device's own token. One
object can hold both, as the in-process transport does, or only the credentials of its side.

Bytes on the ledger are ``len(payload)`` of what crossed the wire, as in the simulator; times are wall
clock (``until`` in :meth:`HttpTransport.receive_on_cloud` is a Unix time).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import numpy as np
from numpy.typing import ArrayLike

from tandem.core.errors import ConfigError, TransportError
from tandem.transport.base import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    BroadcastReceipt,
    Message,
    Receipt,
    TransportLedger,
    check_message,
)
from tandem.transport.httpclient import ApiClient

OCTET = {"Content-Type": "application/octet-stream"}


def _meta_header(meta: Mapping[str, Any]) -> str:
    return json.dumps(dict(meta), separators=(",", ":"), allow_nan=False)


def _message(response: httpx.Response) -> Message:
    head = response.headers
    try:
        meta = json.loads(head.get("x-tandem-meta") or "{}")
        sent = float(head.get("x-tandem-sent-at", "0"))
        device = int(head.get("x-tandem-device", "0"))
    except ValueError as exc:
        raise TransportError(f"server sent a malformed message header: {exc}") from None
    return Message(device, head.get("x-tandem-kind", ""), response.content, meta, sent, time.time())


class HttpTransport:
    """A Transport to the tandem server at ``base_url``.

    Parameters
    ----------
    base_url:
        The server (``http://127.0.0.1:8000``).
    admin_token:
        Needed for the cloud side (send to devices, receive on cloud).
    device_tokens:
        ``{device_id: token}`` for the device side; :meth:`add_device` adds more.
    wait_s:
        How long a receive long-polls the server for the first message (0: return what is there).
    client:
        An ``httpx.Client`` to reuse (e.g. FastAPI's ``TestClient``); other kwargs go to :class:`ApiClient`.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        admin_token: str | None = None,
        device_tokens: Mapping[int, str] | None = None,
        wait_s: float = 0.0,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        client: httpx.Client | None = None,
        **client_kwargs: Any,
    ) -> None:
        if not 0 <= wait_s <= 30:
            raise ConfigError(f"HttpTransport: wait_s must be in [0, 30], got {wait_s}")
        self.api = ApiClient(base_url, admin_token, client=client, **client_kwargs)
        self.admin_token = admin_token
        self.device_tokens = {int(k): v for k, v in (device_tokens or {}).items()}
        self.wait_s = float(wait_s)
        self.max_payload_bytes = int(max_payload_bytes)
        self._lock = threading.Lock()
        self._counts = {"bytes_down": 0, "bytes_up": 0, "messages_down": 0, "messages_up": 0}
        self._closed = False

    def add_device(self, device_id: int, token: str) -> None:
        """Act for one more device."""
        self.device_tokens[int(device_id)] = token

    # -- cloud side -------------------------------------------------------------------------------
    def send_to_device(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        started = time.time()
        out = self.broadcast([device_id], kind, payload, meta)
        return Receipt(int(device_id), kind, out.n_bytes, time.time() - started, started, time.time())

    def broadcast(
        self, device_ids: ArrayLike, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> BroadcastReceipt:
        kind, payload, meta = self._check(kind, payload, meta)
        ids = np.asarray(device_ids, dtype=np.int64).reshape(-1)
        started = time.time()
        if len(ids):
            self.api.request(
                "POST",
                "/v1/admin/mailbox",
                token=self._admin(),
                content=payload,
                params={"kind": kind, "devices": [int(d) for d in ids]},
                headers={**OCTET, "X-Tandem-Meta": _meta_header(meta)},
            )
        elapsed = time.time() - started
        self._count("down", len(payload) * len(ids), len(ids))
        return BroadcastReceipt(kind, len(payload), ids, np.full(len(ids), elapsed), np.full(len(ids), time.time()))

    def receive_on_cloud(self, kind: str | None = None, until: float | None = None) -> list[Message]:
        """Take the uploads waiting at the server (received by Unix time ``until``, if given), oldest first."""
        params: dict[str, Any] = {} if kind is None else {"kind": kind}
        if until is not None:
            params["until"] = float(until)
        return self._drain("/v1/admin/mailbox", self._admin(), params)

    # -- device side ------------------------------------------------------------------------------
    def send_to_cloud(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        kind, payload, meta = self._check(kind, payload, meta)
        started = time.time()
        self.api.request(
            "POST",
            "/v1/mailbox",
            token=self._device(device_id),
            content=payload,
            params={"kind": kind},
            headers={**OCTET, "X-Tandem-Meta": _meta_header(meta)},
        )
        self._count("up", len(payload), 1)
        return Receipt(int(device_id), kind, len(payload), time.time() - started, started, time.time())

    def receive_on_device(self, device_id: int, kind: str | None = None) -> list[Message]:
        params: dict[str, Any] = {} if kind is None else {"kind": kind}
        messages = self._drain("/v1/mailbox", self._device(device_id), params)
        return [Message(int(device_id), m.kind, m.payload, m.meta, m.sent_at, m.arrives_at) for m in messages]

    # -- bookkeeping ------------------------------------------------------------------------------
    @property
    def ledger(self) -> TransportLedger:
        c = self._counts
        return TransportLedger(c["bytes_down"], c["bytes_up"], c["messages_down"], c["messages_up"], time.time())

    def close(self) -> None:
        self._closed = True
        self.api.close()

    def _drain(self, path: str, token: str, params: dict[str, Any]) -> list[Message]:
        out: list[Message] = []
        while True:
            wait = self.wait_s if not out else 0.0
            response = self.api.request("GET", path, token=token, ok=(200, 204), params={**params, "wait_s": wait})
            if response.status_code == 204:
                return out
            out.append(_message(response))

    def _count(self, way: str, n_bytes: int, n_messages: int) -> None:
        """Charge a send (as the in-process transport does: at the sender, once per recipient)."""
        with self._lock:
            self._counts[f"bytes_{way}"] += n_bytes
            self._counts[f"messages_{way}"] += n_messages

    def _admin(self) -> str:
        if self.admin_token is None:
            raise ConfigError("HttpTransport: the cloud side needs admin_token")
        return self.admin_token

    def _device(self, device_id: Any) -> str:
        if isinstance(device_id, bool) or not isinstance(device_id, int | np.integer):
            raise TransportError(f"device id must be an int, got {device_id!r}")
        try:
            return self.device_tokens[int(device_id)]
        except KeyError:
            raise TransportError(f"HttpTransport holds no credential for device {device_id}") from None

    def _check(self, kind: Any, payload: Any, meta: Any) -> tuple[str, bytes, Mapping[str, Any]]:
        if self._closed:
            raise TransportError("transport is closed")
        return check_message(kind, payload, meta, self.max_payload_bytes)
