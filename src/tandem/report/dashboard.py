"""The live fleet dashboard: an ``APIRouter`` the cloud server mounts at ``/dashboard``.

The server supplies the numbers through a small :class:`DashboardProvider` (one method,
:meth:`~DashboardProvider.snapshot`); this module computes rates, serves the data as JSON behind
the auth dependency it is given (the admin API's), and serves the page that shows it::

    from fastapi import Depends
    from tandem.report.dashboard import dashboard_router
    app.include_router(dashboard_router(provider, auth=require_admin))

``GET /dashboard`` is a static page with no data in it (inline CSS and script, nothing fetched from
elsewhere). It takes the admin token from the URL fragment (``/dashboard#token=...``, which browsers
never send to a server) or a form, keeps it in the tab's ``sessionStorage`` and polls
``GET /dashboard/data`` with ``Authorization: Bearer <token>`` every ``refresh_s`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from tandem.core.errors import ConfigError
from tandem.report.dashboard_page import render_page


@dataclass
class ModelRow:
    """One model the server delivers, at its newest version."""

    model_id: str
    version: int
    n_bytes: int = 0
    created_at: float = 0.0


@dataclass
class RoundRow:
    """The open federated round: who was asked, who reported, and its deadline (Unix seconds).

    ``reported_devices`` / ``waiting_devices`` name the devices (the first hundred or so of each is enough for
    a person to see who is late); ``selected`` and ``reported`` are the full counts.
    """

    round: int
    model_id: str = ""
    strategy: str = ""
    selected: int = 0
    reported: int = 0
    deadline: float = 0.0
    opened_at: float = 0.0
    reported_devices: list[str] = field(default_factory=list)
    waiting_devices: list[str] = field(default_factory=list)


@dataclass
class ErrorRow:
    """A recent refused request or failure (Unix seconds, short code, message)."""

    at: float
    code: str
    message: str


@dataclass
class FleetSnapshot:
    """The server's state at one moment; totals are cumulative counters (the dashboard derives rates)."""

    devices: dict[str, dict[str, int]] = field(default_factory=dict)  # tier -> status -> count
    online: dict[str, int] = field(default_factory=dict)  # tier -> devices heard from in the last online_window_s
    online_window_s: float = 0.0
    models: list[ModelRow] = field(default_factory=list)
    open_round: RoundRow | None = None
    requests_total: float = 0.0  # HTTP requests served
    inference_rows_total: float = 0.0  # rows answered by the cloud's large model (cloud load)
    bytes_in_total: float = 0.0  # payload bytes received from devices
    bytes_out_total: float = 0.0  # payload bytes sent to devices
    errors: list[ErrorRow] = field(default_factory=list)  # newest first
    at: float = field(default_factory=time.time)


class DashboardProvider(Protocol):
    """Where the dashboard's numbers come from (the server implements it over its store and metrics)."""

    def snapshot(self) -> FleetSnapshot:
        """The state now; called once per dashboard poll, from a worker thread."""
        ...


RATE_FIELDS = ("requests_total", "inference_rows_total", "bytes_in_total", "bytes_out_total")


class RateWindow:
    """Per-second rates of cumulative counters over the last ``window_s`` seconds of snapshots."""

    def __init__(self, window_s: float = 30.0) -> None:
        if window_s <= 0:
            raise ConfigError(f"RateWindow: window_s must be > 0, got {window_s}")
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, dict[str, float]]] = deque()
        self._lock = threading.Lock()

    def add(self, at: float, totals: dict[str, float]) -> dict[str, float]:
        """Record ``totals`` at time ``at``; rates since the oldest sample in the window (0 until two samples)."""
        with self._lock:
            self._samples.append((at, dict(totals)))
            while len(self._samples) > 2 and at - self._samples[1][0] >= self.window_s:
                self._samples.popleft()
            first_at, first = self._samples[0]
        span = at - first_at
        if span <= 0:
            return {name: 0.0 for name in totals}
        return {name: max(value - first.get(name, value), 0.0) / span for name, value in totals.items()}


def snapshot_body(snapshot: FleetSnapshot, rates: dict[str, float]) -> dict[str, Any]:
    """The JSON ``/dashboard/data`` returns: the snapshot, rates per second, and device totals."""
    body = asdict(snapshot)
    body["rates"] = {name.removesuffix("_total") + "_per_s": value for name, value in rates.items()}
    body["devices_total"] = sum(sum(by_status.values()) for by_status in snapshot.devices.values())
    body["devices_active"] = sum(by_status.get("active", 0) for by_status in snapshot.devices.values())
    body["devices_online"] = sum(snapshot.online.values())
    return body


def dashboard_router(
    provider: DashboardProvider,
    *,
    auth: Callable[..., Any] | None,
    prefix: str = "/dashboard",
    refresh_s: float = 2.0,
    title: str = "tandem fleet",
    window_s: float = 30.0,
) -> APIRouter:
    """``GET {prefix}`` (the page) and ``GET {prefix}/data`` (JSON, guarded by the ``auth`` dependency).

    ``auth`` is required on purpose: pass the admin API's dependency (``None`` only in tests).
    """
    if refresh_s <= 0:
        raise ConfigError(f"dashboard_router: refresh_s must be > 0, got {refresh_s}")
    window = RateWindow(window_s)
    router = APIRouter(prefix=prefix, tags=["dashboard"])
    page = render_page(title=title, data_url=f"{prefix}/data", refresh_s=refresh_s)

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @router.get("/data", dependencies=[Depends(auth)] if auth is not None else [])
    def dashboard_data() -> dict[str, Any]:
        snapshot = provider.snapshot()
        rates = window.add(snapshot.at, {name: float(getattr(snapshot, name)) for name in RATE_FIELDS})
        return snapshot_body(snapshot, rates)

    return router
