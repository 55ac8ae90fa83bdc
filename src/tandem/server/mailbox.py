"""The server's side of the :class:`~tandem.transport.base.Transport` protocol: durable mailboxes in the database.

Cloud -> device messages (round plans, anything a driver broadcasts) are stored once with one recipient
row per device; device -> cloud messages are stored as uploads. The HTTP endpoints expose both ends
(devices and the admin-side :class:`~tandem.transport.http.HttpTransport` use them), and the server's own
round manager talks to devices through this class, so the same :class:`~tandem.federated.rounds.RoundLoop`
runs inside the server, in a script over HTTP and in the simulator.

Uploads of kind ``"update"`` are checked before anything is stored (:meth:`ServerTransport.send_to_cloud`):
the device must have been sent the plan of that round, the round must be open and before its deadline,
the device must not have answered already, and the payload must decode (size, NaN/Inf, envelope checks)
to parameters shaped like the plan's. The row is committed before the call returns, so an acknowledged
update survives a crash.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from tandem.core.errors import PayloadError, TransportError
from tandem.core.messages import ClientUpdate
from tandem.federated.strategy import ClientResult, RoundPlan
from tandem.federated.wire import PLAN_KIND, check_result_shapes, decode_plan, decode_result
from tandem.server import db
from tandem.server.errors import rejected
from tandem.server.store import Store
from tandem.transport.base import BroadcastReceipt, Message, Receipt, TransportLedger, check_message
from tandem.transport.signing import sha256_hex

UpdateHook = Callable[[ClientResult, RoundPlan], None]
"""Called on every decoded update before it is stored; raise PayloadError to reject it (e.g. a norm bound)."""


class ServerTransport:
    """Transport over ``store``'s mailboxes; devices are the enrolled ones.

    Parameters
    ----------
    max_payload_bytes:
        Largest payload accepted in either direction.
    upload_kinds:
        Kinds devices may send besides ``"update"`` (stored unchecked but size-limited).
    on_update:
        Optional :data:`UpdateHook`.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_payload_bytes: int = 64 << 20,
        upload_kinds: tuple[str, ...] = ("metrics",),
        on_update: UpdateHook | None = None,
        round_status: Callable[[int], str | None] | None = None,
    ) -> None:
        self.store = store
        self.max_payload_bytes = int(max_payload_bytes)
        self.upload_kinds = ("update", *upload_kinds)
        self.on_update = on_update
        self.round_status = round_status or (lambda rnd: None)
        self._plans: OrderedDict[int, RoundPlan] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = {"down": 0, "up": 0, "n_down": 0, "n_up": 0}
        self._closed = False

    # -- cloud -> device --------------------------------------------------------------------------
    def send_to_device(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        receipt = self.broadcast([device_id], kind, payload, meta)
        return Receipt(int(device_id), kind, receipt.n_bytes, 0.0, time.time(), time.time())

    def broadcast(
        self, device_ids: ArrayLike, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> BroadcastReceipt:
        with self.store.write() as conn:
            ids = self.store_delivery(conn, device_ids, kind, payload, meta)
        now = np.full(len(ids), time.time())
        return BroadcastReceipt(kind, len(payload), ids, np.zeros(len(ids)), now)

    def store_delivery(
        self, conn: Connection, device_ids: ArrayLike, kind: str, payload: bytes, meta: Mapping[str, Any] | None
    ) -> np.ndarray:
        """Insert one delivery and its recipients inside the caller's transaction; returns the device ids."""
        kind, payload, meta = self._check(kind, payload, meta)
        ids = np.asarray(device_ids, dtype=np.int64).reshape(-1)
        if len(set(ids.tolist())) != len(ids):
            raise TransportError("broadcast: device ids repeat; each device is sent (and charged) once")
        unknown = sorted(set(ids.tolist()) - self.store.known_devices(ids.tolist(), conn))
        if unknown:
            raise rejected(404, "unknown_device", f"unknown or revoked devices {unknown[:5]} ({len(unknown)} in all)")
        rnd = meta.get("round") if kind == PLAN_KIND else None
        if kind == PLAN_KIND and (type(rnd) is not int or rnd < 0):
            raise rejected(422, "bad_plan", f"a plan's meta needs an int round >= 0, got {rnd!r}")
        if kind == PLAN_KIND:
            decode_plan(payload, max_bytes=self.max_payload_bytes)  # a driver must not hand devices garbage
        row = conn.execute(
            insert(db.deliveries).values(kind=kind, round=rnd, payload=payload, meta=dict(meta), sent_at=time.time())
        )
        delivery_id = db.inserted_id(row)
        if len(ids):
            conn.execute(
                insert(db.recipients), [{"delivery_id": delivery_id, "device_id": int(d), "taken": False} for d in ids]
            )
        self._count("down", len(payload) * len(ids), len(ids))
        return ids

    def receive_on_device(self, device_id: int, kind: str | None = None, limit: int | None = None) -> list[Message]:
        """Take what waits for ``device_id`` (at most ``limit``, oldest first), marked taken in one transaction."""
        d, r = db.deliveries.c, db.recipients.c
        query = (
            select(d.id, d.kind, d.payload, d.meta, d.sent_at)
            .join(db.recipients, r.delivery_id == d.id)
            .where(r.device_id == int(device_id), r.taken.is_(False))
            .order_by(d.id)
        )
        if kind is not None:
            query = query.where(d.kind == kind)
        if limit is not None:
            query = query.limit(int(limit))
        with self.store.write() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(db.recipients)
                    .where(r.device_id == int(device_id), r.delivery_id.in_([row.id for row in rows]))
                    .values(taken=True)
                )
        now = time.time()
        return [Message(int(device_id), row.kind, row.payload, dict(row.meta), row.sent_at, now) for row in rows]

    # -- device -> cloud --------------------------------------------------------------------------
    def send_to_cloud(
        self, device_id: int, kind: str, payload: bytes, meta: Mapping[str, Any] | None = None
    ) -> Receipt:
        """Check and durably store one upload; raises :class:`~tandem.server.errors.Rejected` on bad input."""
        try:
            kind, payload, meta = self._check(kind, payload, meta)
        except TransportError as exc:
            status = 413 if "max_payload_bytes" in str(exc) else 422
            raise rejected(status, "too_large" if status == 413 else "bad_message", str(exc)) from None
        if kind not in self.upload_kinds:
            raise rejected(422, "unknown_kind", f"devices may send kinds {list(self.upload_kinds)}, not {kind!r}")
        rnd = None
        if kind == ClientUpdate.KIND:
            rnd = self._check_update(int(device_id), payload, meta)
        digest = sha256_hex(payload)
        try:
            with self.store.write() as conn:
                if rnd is not None:  # hold the round open until this update is committed (a closer waits for it)
                    held = conn.execute(
                        select(db.rounds.c.status).where(db.rounds.c.round == rnd).with_for_update(read=True)
                    ).scalar()
                    if held == "closed":
                        raise rejected(409, "late_update", f"round {rnd} closed; update of device {device_id} refused")
                conn.execute(
                    insert(db.uploads).values(
                        device_id=int(device_id),
                        kind=kind,
                        round=rnd,
                        payload=payload,
                        meta=dict(meta),
                        sha256=digest,
                        received_at=time.time(),
                        taken=False,
                    )
                )
        except IntegrityError:
            raise rejected(
                409, "replayed_update", f"device {device_id} already sent its update of round {rnd}"
            ) from None
        self._count("up", len(payload), 1)
        now = time.time()
        return Receipt(int(device_id), kind, len(payload), 0.0, now, now)

    def _check_update(self, device_id: int, payload: bytes, meta: Mapping[str, Any]) -> int:
        try:
            update_msg = ClientUpdate.from_wire(device_id, payload, meta)
        except PayloadError as exc:
            raise rejected(422, "bad_update", str(exc)) from None
        rnd = update_msg.round
        plan_row = self._plan_row(device_id, rnd)
        if plan_row is None:
            raise rejected(409, "not_in_round", f"device {device_id} was not sent a plan for round {rnd}")
        plan_id, plan_payload, plan_meta = plan_row
        deadline = plan_meta.get("deadline")
        if self.round_status(rnd) == "closed" or (isinstance(deadline, int | float) and time.time() > deadline):
            raise rejected(
                409, "late_update", f"round {rnd} is closed or past its deadline; update of device {device_id} refused"
            )
        u = db.uploads.c
        with self.store.read() as conn:
            prior = conn.execute(
                select(u.sha256).where(u.kind == "update", u.round == rnd, u.device_id == device_id)
            ).first()
        if prior is not None:
            same = "the same bytes" if prior.sha256 == sha256_hex(payload) else "different bytes"
            raise rejected(
                409, "replayed_update", f"device {device_id} already sent its update of round {rnd} ({same})"
            )
        plan = self._plan(plan_id, plan_payload)
        try:
            result = decode_result(update_msg, max_bytes=self.max_payload_bytes)
            if result.client_id != device_id:
                raise PayloadError(f"update claims device {result.client_id}")
            check_result_shapes(result, plan)
            if self.on_update is not None:
                self.on_update(result, plan)
        except PayloadError as exc:
            raise rejected(422, "bad_update", str(exc)) from None
        return rnd

    def _plan_row(self, device_id: int, rnd: int) -> tuple[int, bytes, dict[str, Any]] | None:
        """``(delivery id, payload, meta)`` of the newest round-``rnd`` plan sent to ``device_id``; None if none."""
        d, r = db.deliveries.c, db.recipients.c
        query = (
            select(d.id, d.payload, d.meta)
            .join(db.recipients, and_(r.delivery_id == d.id, r.device_id == device_id))
            .where(d.kind == PLAN_KIND, d.round == rnd)
            .order_by(d.id.desc())
            .limit(1)
        )
        with self.store.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.id, row.payload, row.meta)

    def _plan(self, delivery_id: int, payload: bytes) -> RoundPlan:
        with self._lock:
            if delivery_id in self._plans:
                return self._plans[delivery_id]
        plan = decode_plan(payload)
        with self._lock:
            self._plans[delivery_id] = plan
            while len(self._plans) > 8:
                self._plans.popitem(last=False)
        return plan

    def receive_on_cloud(
        self, kind: str | None = None, until: float | None = None, limit: int | None = None
    ) -> list[Message]:
        """Take stored uploads not yet taken (of ``kind``; received by ``until``), in arrival order."""
        u = db.uploads.c
        query = (
            select(u.id, u.device_id, u.kind, u.payload, u.meta, u.received_at).where(u.taken.is_(False)).order_by(u.id)
        )
        if kind is not None:
            query = query.where(u.kind == kind)
        if until is not None:
            query = query.where(u.received_at <= until)
        if limit is not None:
            query = query.limit(int(limit))
        with self.store.write() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(update(db.uploads).where(u.id.in_([row.id for row in rows])).values(taken=True))
        return [
            Message(row.device_id, row.kind, row.payload, dict(row.meta), row.received_at, row.received_at)
            for row in rows
        ]

    # -- bookkeeping ------------------------------------------------------------------------------
    @property
    def ledger(self) -> TransportLedger:
        b = self._bytes
        return TransportLedger(b["down"], b["up"], b["n_down"], b["n_up"], time.time())

    def close(self) -> None:
        self._closed = True

    def _count(self, way: str, n_bytes: int, n_messages: int) -> None:
        with self._lock:
            self._bytes[way] += n_bytes
            self._bytes[f"n_{way}"] += n_messages

    def _check(self, kind: Any, payload: Any, meta: Any) -> tuple[str, bytes, Mapping[str, Any]]:
        if self._closed:
            raise TransportError("transport is closed")
        return check_message(kind, payload, meta, self.max_payload_bytes)
