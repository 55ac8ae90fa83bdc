"""The live dashboard's numbers, read from the running server (its database, registry, rounds and metrics).

:class:`ServerDashboard` is the :class:`~tandem.report.dashboard.DashboardProvider` that
:func:`~tandem.server.app.create_app` mounts at ``/dashboard`` behind the admin token. Everything it shows
comes from state the server keeps anyway: enrolled devices (grouped by the ``tier`` in their enrollment
profile and by status, in SQL so a large fleet costs one query), the newest version of each model, the
open round (who was asked, who has a stored update, the deadline), and the Prometheus counters of
requests, large-model rows and payload bytes.

Two things the database does not keep live in :class:`FleetActivity`, in memory: when each device was
last heard from (an authenticated request), and the last refusals and failures the server answered.
They start empty after a restart, which is what "recent" means.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from prometheus_client import Counter
from sqlalchemy import func, select

from tandem.report.dashboard import ErrorRow, FleetSnapshot, ModelRow, RoundRow
from tandem.server import db

if TYPE_CHECKING:
    from tandem.server.app import Server

NO_TIER = "untiered"
MAX_MESSAGE_CHARS = 300


class FleetActivity:
    """Last-heard times of devices and a ring of recent errors; thread-safe, O(1) per request.

    ``online_window_s``: a device heard from within this many seconds counts as online.
    ``keep_errors``: how many of the newest errors to keep.
    """

    def __init__(self, *, online_window_s: float = 30.0, keep_errors: int = 50) -> None:
        self.online_window_s = float(online_window_s)
        self._seen: dict[int, tuple[float, str]] = {}
        self._errors: deque[ErrorRow] = deque(maxlen=int(keep_errors))
        self._lock = threading.Lock()

    def seen(self, device_id: int, tier: str) -> None:
        """Device ``device_id`` (of ``tier``) just made an authenticated request."""
        self._seen[int(device_id)] = (time.time(), tier)  # one dict store: atomic under the GIL

    def error(self, code: str, message: str, where: str = "") -> None:
        """The server refused or failed a request (``where``: ``"POST /v1/mailbox"``)."""
        text = f"{where}: {message}" if where else message
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 1] + "…"
        with self._lock:
            self._errors.appendleft(ErrorRow(time.time(), code, text))

    def errors(self) -> list[ErrorRow]:
        """The kept errors, newest first."""
        with self._lock:
            return list(self._errors)

    def online(self, now: float | None = None) -> dict[str, int]:
        """Devices heard from within the window, by tier (and forgets the ones that fell out of it)."""
        cutoff = (time.time() if now is None else now) - self.online_window_s
        counts: dict[str, int] = {}
        for device_id, (at, tier) in list(self._seen.items()):
            if at >= cutoff:
                counts[tier] = counts.get(tier, 0) + 1
            elif now is None and self._seen.get(device_id, (at, tier)) == (at, tier):
                self._seen.pop(device_id, None)  # not seen again since the copy above
        return counts

    def forget(self, device_id: int) -> None:
        """A revoked device is no longer online."""
        self._seen.pop(int(device_id), None)


def tier_of(profile: object) -> str:
    """The tier a device enrolled with (``profile["tier"]``), or ``"untiered"``."""
    tier = profile.get("tier") if isinstance(profile, dict) else None
    return str(tier) if isinstance(tier, str) and tier else NO_TIER


def counter_total(counter: Counter, *, skip_prefix: tuple[str, ...] = ()) -> float:
    """Sum of a Prometheus counter over all its label values (children whose first label starts with
    one of ``skip_prefix`` left out)."""
    total = 0.0
    for metric in counter.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            first = next(iter(sample.labels.values()), "")
            if skip_prefix and first.startswith(skip_prefix):
                continue
            total += sample.value
    return total


class ServerDashboard:
    """The dashboard provider of one server.

    ``max_names``: how many device names of the open round to list as reported and as waiting.
    ``skip_routes``: request routes not counted in the request rate (the dashboard's own polling).
    """

    def __init__(self, server: Server, *, max_names: int = 100, skip_routes: tuple[str, ...] = ("/dashboard",)) -> None:
        self.server = server
        self.max_names = int(max_names)
        self.skip_routes = tuple(skip_routes)

    def snapshot(self) -> FleetSnapshot:
        """The server's state now (a few indexed queries; called once per dashboard poll)."""
        server = self.server
        metrics, activity = server.metrics, server.activity
        return FleetSnapshot(
            devices=self.devices(),
            online=activity.online(),
            online_window_s=activity.online_window_s,
            models=[ModelRow(i.model_id, i.version, i.n_bytes, i.created_at) for i in server.registry.models()],
            open_round=self.open_round(),
            requests_total=counter_total(metrics.requests, skip_prefix=self.skip_routes),
            inference_rows_total=counter_total(metrics.inference_rows),
            bytes_in_total=counter_total(metrics.bytes_in),
            bytes_out_total=counter_total(metrics.bytes_out),
            errors=activity.errors(),
            at=time.time(),
        )

    def devices(self) -> dict[str, dict[str, int]]:
        """Enrolled devices: tier -> status -> count, grouped in the database."""
        d = db.devices.c
        tier = d.profile["tier"].as_string()
        query = select(tier, d.status, func.count()).group_by(tier, d.status)
        out: dict[str, dict[str, int]] = {}
        with self.server.store.read() as conn:
            for name, status, count in conn.execute(query):
                by_status = out.setdefault(name or NO_TIER, {})
                by_status[status] = by_status.get(status, 0) + int(count)
        return dict(sorted(out.items()))

    def open_round(self) -> RoundRow | None:
        """The open round with the names of (the first ``max_names``) reported and waiting devices."""
        row = self.server.rounds.current()
        if row is None:
            return None
        received = set(row["received"])
        reported = [d for d in row["devices"] if d in received]
        waiting = [d for d in row["devices"] if d not in received]
        shown = reported[: self.max_names] + waiting[: self.max_names]
        names = self.names(shown)
        return RoundRow(
            round=int(row["round"]),
            model_id=row["model_id"],
            strategy=row["strategy"],
            selected=len(row["devices"]),
            reported=len(reported),
            deadline=float(row["deadline"]),
            opened_at=float(row["opened_at"]),
            reported_devices=[names.get(d, f"#{d}") for d in reported[: self.max_names]],
            waiting_devices=[names.get(d, f"#{d}") for d in waiting[: self.max_names]],
        )

    def names(self, ids: list[int]) -> dict[int, str]:
        """``"#id name"`` of each of ``ids``."""
        if not ids:
            return {}
        d = db.devices.c
        with self.server.store.read() as conn:
            rows = conn.execute(select(d.id, d.name).where(d.id.in_(ids))).all()
        return {int(i): f"#{i} {name}" for i, name in rows}
