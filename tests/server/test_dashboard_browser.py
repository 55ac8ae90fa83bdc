"""The dashboard mounted on a real server (uvicorn, loopback) as a person sees it in headless Chromium.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); skipped with that hint when absent.
The live fleet of twenty agents is in ``test_dashboard_live.py`` (integration).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.report.browser import needs_chromium, run_chromium
from tests.server.conftest import ADMIN, SPEC, make_app, small_state
from tests.server.procs import serve_in_thread

from tandem.core.envelope import encode_state
from tandem.data.clients import SyntheticClients
from tandem.device.agent import DeviceAgent
from tandem.device.trainer import DeviceData

pytestmark = needs_chromium
HEAD = {"Authorization": f"Bearer {ADMIN}"}
POP = SyntheticClients(10, n_features=8, n_classes=3, seed=5, min_size=10, max_size=20)
TIERS = ["high_end_phone", "mid_range_phone", "mid_range_phone", "iot_device"]


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with a model, four enrolled agents of three tiers (one revoked), an inference, a refusal and an
    open round one agent has answered."""
    import json

    app = make_app(tmp_path_factory.mktemp("dash") / "tandem.db", dashboard_refresh_s=0.5)
    with serve_in_thread(app) as url:
        api = httpx.Client(base_url=url, headers=HEAD, timeout=30)
        meta = {"X-Tandem-Meta": json.dumps({"spec": SPEC})}
        assert api.post("/v1/admin/models/small/versions", content=encode_state(small_state()), headers=meta).is_success
        agents = []
        for i, tier in enumerate(TIERS):
            view = POP.round_view(np.array([i]))
            data = DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])
            agent = DeviceAgent(url, enroll_key=ADMIN, data=data, name=f"agent-{i}", retries=0)
            agent.enroll({"tier": tier})
            agent.sync_model()
            agents.append(agent)
        agents[0].predict(data.X.numpy()[:5])
        api.post(f"/v1/admin/devices/{agents[3].device_id}/revoke")
        ids = [a.device_id for a in agents[:3]]
        assert api.post("/v1/admin/rounds", json={"model_id": "small", "devices": ids, "deadline_s": 600}).is_success
        assert agents[1].train_round() == 1
        api.post("/v1/mailbox", content=b"x", headers={"Authorization": "Bearer t1.12345.forged"})
        yield url


def test_mounted_dashboard_shows_the_server_state(busy_server: str, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path / "profile", f"{busy_server}/dashboard#token={ADMIN}", "--virtual-time-budget=2500",
                       "--dump-dom").stdout  # fmt: skip
    text = html.unescape(dom)
    assert 'id="k-devices">4<' in dom and 'id="k-active">3<' in dom
    assert 'id="k-online">3<' in dom  # the revoked agent no longer counts as online
    assert "<td>mid_range_phone</td>" in dom and "<td>iot_device</td>" in dom and "<td>high_end_phone</td>" in dom
    assert '<td>small</td><td class="num">v1</td>' in dom
    assert "round 1 · small · fedavg · 1 of 3 devices reported" in text
    assert 'id="k-round">1 / 3<' in dom
    assert "#2 agent-1" in text and "#1 agent-0, #3 agent-2" in text  # who reported, who is still waiting
    assert "unknown_device" in dom and "POST /v1/mailbox" in text  # the forged token, as a recent error
    assert 'id="status" class="">updated ' in dom
    assert 'id="k-in">–<' not in dom and 'id="k-out">–<' not in dom


def test_mounted_dashboard_refuses_a_wrong_token(busy_server: str, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path / "profile", f"{busy_server}/dashboard#token=not-the-admin",
                       "--virtual-time-budget=1500", "--dump-dom").stdout  # fmt: skip
    assert 'id="k-devices">–<' in dom and "agent-0" not in dom
    assert "not updated: HTTP 403" in dom or "admin token needed" in dom
