"""The live dashboard mounted on the real server: behind the admin token, numbers from the server's own state."""

from __future__ import annotations

import numpy as np
import torch
from tests.server.conftest import ADMIN, admin, bearer, register

from tandem.core.envelope import encode_state
from tandem.data.clients import SyntheticClients
from tandem.device.agent import DeviceAgent
from tandem.device.trainer import DeviceData
from tandem.server.dashboard_provider import FleetActivity, ServerDashboard, counter_total, tier_of

POP = SyntheticClients(20, n_features=8, n_classes=3, seed=5, min_size=10, max_size=20)
TIERS = ["high_end_phone", "high_end_phone", "iot_device", "low_end_phone"]


def _agent(client, i: int, tier: str | None) -> DeviceAgent:
    view = POP.round_view(np.array([i]))
    data = DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])
    agent = DeviceAgent(client=client, enroll_key=ADMIN, data=data, name=f"phone-{i}", retries=0)
    agent.enroll({"tier": tier} if tier else {})
    return agent


def _data(client) -> dict:
    response = client.get("/dashboard/data", headers=admin())
    assert response.status_code == 200, response.text
    return response.json()


def test_data_needs_the_admin_token_and_the_page_holds_none(client) -> None:
    device_token = client.post("/v1/devices", json={"name": "d"}, headers=admin()).json()["token"]
    missing = client.get("/dashboard/data")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "no_credentials"
    assert client.get("/dashboard/data", headers=bearer("wrong")).status_code == 403
    assert client.get("/dashboard/data", headers=bearer(device_token)).status_code == 403  # devices see nothing
    page = client.get("/dashboard")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/dashboard/data" in page.text and "untiered" not in page.text and "src=" not in page.text
    assert "/dashboard" not in client.get("/openapi.json").json()["paths"]  # the page is not an API
    assert "/dashboard/data" in client.get("/openapi.json").json()["paths"]


def test_empty_server(client) -> None:
    body = _data(client)
    assert body["devices"] == {} and body["devices_total"] == 0 and body["models"] == []
    assert body["open_round"] is None and body["online_window_s"] == 30.0


def test_devices_models_round_and_traffic_are_real(client, app) -> None:
    register(client)
    agents = [_agent(client, i, tier) for i, tier in enumerate([*TIERS, None])]
    client.post(f"/v1/admin/devices/{agents[3].device_id}/revoke", headers=admin())
    body = _data(client)
    assert body["devices"] == {
        "high_end_phone": {"active": 2},
        "iot_device": {"active": 1},
        "low_end_phone": {"revoked": 1},
        "untiered": {"active": 1},
    }
    assert (body["devices_total"], body["devices_active"]) == (5, 4)
    assert [(m["model_id"], m["version"]) for m in body["models"]] == [("small", 1)]
    assert body["models"][0]["n_bytes"] > 0 and body["bytes_out_total"] == 0.0

    for agent in agents[:3]:
        agent.sync_model()  # signed artifacts: bytes out
    body = _data(client)
    assert body["online"] == {"high_end_phone": 2, "iot_device": 1} and body["devices_online"] == 3
    model_bytes = body["bytes_out_total"]
    assert model_bytes >= 3 * body["models"][0]["n_bytes"] * 0.9

    x = torch.randn(6, 8)
    request = encode_state({"x": x})
    answer = client.post("/v1/infer", content=request, headers=bearer(agents[0].api.token))
    assert answer.status_code == 200
    body = _data(client)
    assert body["inference_rows_total"] == 6.0
    assert body["bytes_in_total"] == len(request)
    assert body["bytes_out_total"] == model_bytes + len(answer.content)

    opened = client.post(
        "/v1/admin/rounds",
        json={"model_id": "small", "devices": [a.device_id for a in agents[:3]], "objective": {"lr": 0.1}},
        headers=admin(),
    ).json()
    rnd = _data(client)["open_round"]
    assert (rnd["round"], rnd["selected"], rnd["reported"], rnd["strategy"]) == (opened["round"], 3, 0, "fedavg")
    assert rnd["deadline"] == opened["deadline"] and rnd["reported_devices"] == []
    assert rnd["waiting_devices"] == [f"#{a.device_id} phone-{i}" for i, a in enumerate(agents[:3])]
    assert agents[1].train_round() == opened["round"]
    body = _data(client)
    rnd = body["open_round"]
    assert rnd["reported"] == 1 and rnd["reported_devices"] == [f"#{agents[1].device_id} phone-1"]
    assert len(rnd["waiting_devices"]) == 2
    assert body["bytes_in_total"] > len(request)  # the update's payload


def test_refusals_show_as_recent_errors_and_requests_are_counted(client) -> None:
    first = _data(client)
    assert client.get("/v1/models/small", headers=bearer("t1.99.nope")).status_code == 401
    client.post("/v1/admin/rounds", json={"model_id": "no-such-model"}, headers=admin())
    body = _data(client)
    codes = [(e["code"], e["message"].split(":")[0]) for e in body["errors"]]
    assert codes[:2] == [("not_found", "POST /v1/admin/rounds"), ("unknown_device", "GET /v1/models/small")]
    assert body["requests_total"] - first["requests_total"] == 2  # the dashboard's own polls are not counted
    assert body["rates"]["requests_per_s"] > 0


def test_activity_and_helpers_by_hand() -> None:
    activity = FleetActivity(online_window_s=10, keep_errors=2)
    activity.seen(1, "iot_device")
    activity.seen(2, "iot_device")
    activity.seen(3, "high_end_phone")
    assert activity.online() == {"iot_device": 2, "high_end_phone": 1}
    activity.forget(2)
    assert activity.online() == {"iot_device": 1, "high_end_phone": 1}
    assert activity.online(now=1e12) == {}  # everyone long gone
    for i in range(3):
        activity.error("bad", "x" * 1000 if i == 2 else f"error {i}", "GET /")
    errors = activity.errors()
    assert len(errors) == 2 and errors[1].message == "GET /: error 1"
    assert len(errors[0].message) == 300 and errors[0].message.endswith("…")
    assert tier_of({"tier": "iot_device"}) == "iot_device"
    assert tier_of({"tier": 3}) == tier_of({}) == tier_of(None) == "untiered"


def test_counter_total_skips_routes(app) -> None:
    metrics = app.state.tandem.metrics
    metrics.requests.labels("/v1/infer", "200").inc(3)
    metrics.requests.labels("/dashboard/data", "200").inc(5)
    assert counter_total(metrics.requests) == 8
    assert counter_total(metrics.requests, skip_prefix=("/dashboard",)) == 3
    assert isinstance(ServerDashboard(app.state.tandem).snapshot().requests_total, float)
