"""Persistence of devices, credentials, settings and request-policy feedback.

:class:`Store` owns the engine. Writes go through :meth:`Store.write`, one transaction each, committed
before the caller answers anyone. SQLite allows one writer at a time and answers ``database is locked``
when two connections race to upgrade a read lock, so on SQLite writes are also serialized by an
in-process lock (the server is one process); PostgreSQL needs no such lock.

Device credentials: a device token is ``t1.<device id>.<secret>``; only SHA-256 of the secret is stored,
and comparison is constant-time.

Liveness: a device holds a lease of ``lease_s`` seconds, renewed by its check-in and by any authenticated
request (:meth:`Store.touch`). The renewal is stored in the ``leases`` table, so a restarted server knows who
was live; to keep renewals cheap, a device's lease is written at most once per ``lease_s / 4`` seconds by
this process. Only devices whose lease is current are live (:meth:`Store.live_devices`): the ones a round
selects.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Integer, func, insert, select, update

from tandem.core.errors import ConfigError
from tandem.server import db
from tandem.server.db import make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """An enrolled device."""

    id: int
    name: str
    status: str
    profile: dict[str, Any]
    created_at: float


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_device_token(token: str) -> tuple[int, str] | None:
    """``(device_id, secret)`` from ``t1.<id>.<secret>``, or ``None`` if the token is malformed."""
    parts = token.split(".", 2)
    if len(parts) != 3 or parts[0] != "t1" or not parts[1].isdigit() or len(parts[1]) > 12 or not parts[2]:
        return None
    return int(parts[1]), parts[2]


class Store:
    """Database access for the server; ``url`` as :func:`tandem.server.db.make_engine` takes it.

    Successful authentications are cached for ``auth_ttl_s`` seconds (revoking in this process clears the
    cache at once; another process sharing a PostgreSQL database sees a revocation within the TTL).
    """

    def __init__(self, url: str = "sqlite:///tandem.db", *, auth_ttl_s: float = 2.0, lease_s: float = 30.0) -> None:
        if not 0 < lease_s <= 86400:
            raise ConfigError(f"lease_s must be in (0, 86400] seconds, got {lease_s}")
        self.url = url
        self.engine: Engine = make_engine(url)
        self._lock = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self.auth_ttl_s = float(auth_ttl_s)
        self.lease_s = float(lease_s)
        self._auth: dict[str, tuple[float, Device]] = {}
        self._renewed: dict[int, float] = {}  # device -> when this process last wrote its lease

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, committed (durably) when the block exits without error."""
        if self._lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.read() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # the health check answers "down"; why goes to the log
            log.warning("database ping failed", exc_info=True)
            return False

    # -- settings ---------------------------------------------------------------------------------
    def get_setting(self, key: str) -> bytes | None:
        with self.read() as conn:
            return conn.execute(select(db.settings.c.value).where(db.settings.c.key == key)).scalar()

    def setting_or_create(self, key: str, make: Callable[[], bytes]) -> bytes:
        """The stored value of ``key``, storing ``make()`` first if there is none."""
        with self.write() as conn:
            value = conn.execute(select(db.settings.c.value).where(db.settings.c.key == key)).scalar()
            if value is None:
                value = make()
                conn.execute(insert(db.settings).values(key=key, value=value))
            return value

    # -- devices ----------------------------------------------------------------------------------
    def enroll(self, name: str, profile: Mapping[str, Any] | None = None) -> tuple[Device, str]:
        """Create a device and its credential; returns the device and its token (shown only now)."""
        secret = secrets.token_urlsafe(24)
        now = time.time()
        with self.write() as conn:
            row = conn.execute(
                insert(db.devices).values(
                    name=name, token_hash=_hash(secret), status="active", profile=dict(profile or {}), created_at=now
                )
            )
            device_id = db.inserted_id(row)
            conn.execute(insert(db.leases).values(device_id=device_id, seen_at=now))  # enrolling is a check-in
        self._renewed[device_id] = now
        return Device(device_id, name, "active", dict(profile or {}), now), f"t1.{device_id}.{secret}"

    def authenticate(self, token: str) -> tuple[Device | None, str]:
        """``(device, "")`` for a valid active token, else ``(None, reason)`` with reason unknown/revoked."""
        cached = self._auth.get(token)
        if cached is not None and time.monotonic() - cached[0] < self.auth_ttl_s:
            return cached[1], ""
        parsed = parse_device_token(token)
        if parsed is None:
            return None, "malformed device token"
        device_id, secret = parsed
        with self.read() as conn:
            row = conn.execute(select(db.devices).where(db.devices.c.id == device_id)).first()
        if row is None or not hmac.compare_digest(row.token_hash, _hash(secret)):
            return None, "unknown device or wrong credential"
        if row.status != "active":
            return None, f"device {device_id} is {row.status}"
        device = Device(row.id, row.name, row.status, dict(row.profile), row.created_at)
        if len(self._auth) > 100_000:
            self._auth.clear()
        self._auth[token] = (time.monotonic(), device)
        return device, ""

    def revoke(self, device_id: int) -> bool:
        """Revoke a device's credential; False if there is no such device."""
        with self.write() as conn:
            done = conn.execute(update(db.devices).where(db.devices.c.id == device_id).values(status="revoked"))
        self._auth = {t: v for t, v in self._auth.items() if v[1].id != device_id}
        return done.rowcount > 0

    # -- liveness ---------------------------------------------------------------------------------
    def touch(self, device_id: int, now: float | None = None, *, force: bool = False) -> float:
        """Renew ``device_id``'s lease (written unless this process wrote it within ``lease_s / 4``, or
        ``force``); returns when the lease ends."""
        now = time.time() if now is None else float(now)
        device_id = int(device_id)
        last = self._renewed.get(device_id)
        if force or last is None or now - last >= self.lease_s / 4 or now < last:
            with self.write() as conn:
                done = conn.execute(update(db.leases).where(db.leases.c.device_id == device_id).values(seen_at=now))
                if done.rowcount == 0:
                    conn.execute(insert(db.leases).values(device_id=device_id, seen_at=now))
            if len(self._renewed) > 1_000_000:
                self._renewed.clear()
            self._renewed[device_id] = last = now
        return last + self.lease_s

    def live_devices(self, now: float | None = None) -> list[int]:
        """Active devices whose lease is current (renewed within ``lease_s``), by id."""
        cutoff = (time.time() if now is None else float(now)) - self.lease_s
        d, lease = db.devices.c, db.leases.c
        query = (
            select(d.id)
            .join(db.leases, lease.device_id == d.id)
            .where(d.status == "active", lease.seen_at >= cutoff)
            .order_by(d.id)
        )
        with self.read() as conn:
            return [int(i) for i in conn.execute(query).scalars()]

    def lease_of(self, device_id: int) -> float | None:
        """When ``device_id`` last renewed its lease (server clock), or ``None``."""
        with self.read() as conn:
            return conn.execute(select(db.leases.c.seen_at).where(db.leases.c.device_id == int(device_id))).scalar()

    def devices(self, status: str | None = None) -> list[Device]:
        query = select(db.devices).order_by(db.devices.c.id)
        if status is not None:
            query = query.where(db.devices.c.status == status)
        with self.read() as conn:
            return [Device(r.id, r.name, r.status, dict(r.profile), r.created_at) for r in conn.execute(query)]

    def known_devices(self, ids: Sequence[int], conn: Connection | None = None) -> set[int]:
        """Which of ``ids`` are enrolled and active (inside ``conn``'s transaction if given)."""
        query = select(db.devices.c.id).where(db.devices.c.id.in_(list(ids)), db.devices.c.status == "active")
        if conn is not None:
            return {int(i) for i in conn.execute(query).scalars()}
        with self.read() as own:
            return {int(i) for i in own.execute(query).scalars()}

    # -- request-policy feedback ------------------------------------------------------------------
    def log_feedback(self, device_id: int, events: Sequence[Mapping[str, Any]]) -> int:
        """Store a batch of routing decisions (what the policy decided, and what came of it)."""
        now = time.time()
        rows = [{"device_id": device_id, "received_at": now, **dict(e)} for e in events]
        if rows:
            with self.write() as conn:
                conn.execute(insert(db.feedback), rows)
        return len(rows)

    def feedback_summary(self) -> dict[str, Any]:
        """Counts of logged decisions: total, requested, and accuracy of the small model where labelled."""
        f = db.feedback.c
        with self.read() as conn:
            total, requested = conn.execute(
                select(func.count(), func.coalesce(func.sum(f.requested.cast(Integer)), 0))
            ).one()
            labelled = conn.execute(
                select(func.count(), func.coalesce(func.sum((f.small_pred == f.label).cast(Integer)), 0)).where(
                    f.label.is_not(None)
                )
            ).one()
        return {
            "events": int(total),
            "requested": int(requested),
            "labelled": int(labelled[0]),
            "small_correct": int(labelled[1]),
        }
