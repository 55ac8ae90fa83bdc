"""The live dashboard router: rates, the JSON behind auth, a page with no data in it, and Chromium showing it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from tandem.core.errors import ConfigError
from tandem.report.dashboard import FleetSnapshot, RateWindow, dashboard_router, snapshot_body

from .browser import needs_chromium, run_chromium
from .fake_fleet import FakeFleet

TOKEN = "s3cret-admin"


def require_token(authorization: str = Header(default="")) -> None:
    """Stands in for the server's ``require_admin``."""
    if authorization != f"Bearer {TOKEN}":
        raise HTTPException(403, "this endpoint needs the admin token")


def make_app(**options: object) -> FastAPI:
    app = FastAPI()
    app.include_router(dashboard_router(FakeFleet(), auth=require_token, **options))
    return app


def test_rate_window_by_hand() -> None:
    window = RateWindow(window_s=10)
    assert window.add(0.0, {"n": 5.0}) == {"n": 0.0}  # one sample: no rate yet
    assert window.add(2.0, {"n": 25.0}) == {"n": 10.0}
    assert window.add(4.0, {"n": 35.0}) == {"n": 7.5}  # (35 - 5) / 4
    assert window.add(14.0, {"n": 135.0}) == {"n": 10.0}  # the t=0 sample left the window: (135 - 35) / 10
    assert window.add(15.0, {"n": 0.0}) == {"n": 0.0}  # a counter reset never gives a negative rate
    with pytest.raises(ConfigError, match="window_s"):
        RateWindow(0)


def test_snapshot_body_totals_and_rates() -> None:
    body = snapshot_body(FleetSnapshot(devices={"a": {"active": 3, "revoked": 1}, "b": {"active": 2}}),
                         {"requests_total": 4.0})
    assert (body["devices_total"], body["devices_active"]) == (6, 5)
    assert body["rates"] == {"requests_per_s": 4.0} and body["open_round"] is None


def test_data_is_behind_auth_and_page_holds_no_data() -> None:
    client = TestClient(make_app(title="fleet <east>"))
    assert client.get("/dashboard/data").status_code == 403
    assert client.get("/dashboard/data", headers={"Authorization": "Bearer wrong"}).status_code == 403
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "flagship" not in page.text and "next-item" not in page.text  # the page is a shell; data needs the token
    assert "<title>fleet &lt;east&gt;</title>" in page.text
    assert "src=" not in page.text and "<link" not in page.text  # nothing fetched from elsewhere


def test_data_json_with_rates() -> None:
    client = TestClient(make_app())
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = client.get("/dashboard/data", headers=auth).json()
    second = client.get("/dashboard/data", headers=auth).json()
    assert first["rates"]["requests_per_s"] == 0.0  # one sample only
    assert second["rates"] == {"requests_per_s": 120.0, "inference_rows_per_s": 512.0,
                               "bytes_in_per_s": 40_960.0, "bytes_out_per_s": 2_097_152.0}
    assert second["devices_total"] == 24 and second["devices_active"] == 23
    assert second["open_round"]["reported"] == 12 and second["models"][0]["model_id"] == "next-item"


def test_router_needs_an_explicit_auth_choice() -> None:
    with pytest.raises(TypeError):
        dashboard_router(FakeFleet())  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="refresh_s"):
        dashboard_router(FakeFleet(), auth=None, refresh_s=0)


@pytest.fixture
def live_server() -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    server = uvicorn.Server(uvicorn.Config(make_app(refresh_s=0.5), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/dashboard"
    server.should_exit = True
    thread.join(10)


@needs_chromium
def test_dashboard_updates_live_in_chromium(live_server: str, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path / "profile", f"{live_server}#token={TOKEN}", "--virtual-time-budget=3000",
                       "--dump-dom").stdout
    assert 'id="k-devices">24<' in dom and 'id="k-active">23<' in dom
    assert 'id="k-req">120<' in dom  # a rate: at least two polls happened
    assert "<td>flagship</td>" in dom and "<td>midrange</td>" in dom
    assert "round 7 · next-item · fedavg" in dom and " of 20 devices reported" in dom
    assert "NaN in layer &lt;0.weight&gt;" in dom  # device-supplied text is shown as text, not markup
    assert "<polyline" in dom  # the request-rate sparkline
    assert 'id="status" class="">updated ' in dom


@needs_chromium
def test_dashboard_asks_for_the_token(live_server: str, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path / "profile", f"{live_server}#token=wrong", "--virtual-time-budget=2000",
                       "--dump-dom").stdout
    assert 'id="k-devices">–<' in dom  # nothing shown without the admin token
    assert "not updated: HTTP 403" in dom or "admin token needed" in dom
    assert '<form id="login">' in dom  # the token form is no longer hidden
