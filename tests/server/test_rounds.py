"""Server-managed federated rounds: agents answer plans, the deadline closes rounds, a restart resumes them."""

from __future__ import annotations

import time

import numpy as np
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, admin, make_app, register

from tandem.data.clients import SyntheticClients
from tandem.device.agent import DeviceAgent
from tandem.device.trainer import DeviceData

POP = SyntheticClients(50, n_features=8, n_classes=3, seed=3, min_size=10, max_size=20)


def _agents(client, n: int) -> list[DeviceAgent]:
    agents = []
    for i in range(n):
        view = POP.round_view(np.array([i]))
        agent = DeviceAgent(
            client=client, enroll_key=ADMIN, data=DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]]), retries=0
        )
        agent.enroll()
        agent.sync_model()
        agents.append(agent)
    return agents


def _wait(client, rnd: int, status: str = "closed", timeout: float = 10.0) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        row = client.get(f"/v1/admin/rounds/{rnd}", headers=admin()).json()
        if row["status"] == status:
            return row
        time.sleep(0.05)
    raise AssertionError(f"round {rnd} not {status} after {timeout}s")


def test_three_rounds_with_agents_publish_three_versions(client) -> None:
    register(client)
    agents = _agents(client, 4)
    x, y = POP.test_set(500)
    before = float((agents[0].onnx.probabilities(x.numpy()).argmax(1) == y.numpy()).mean())
    for rnd in (1, 2, 3):
        assert (
            client.post(
                "/v1/admin/rounds",
                json={"model_id": "small", "strategy": "fedavg", "objective": {"lr": 0.1, "epochs": 2}},
                headers=admin(),
            ).json()["round"]
            == rnd
        )
        assert [a.train_round() for a in agents] == [rnd] * 4
        row = _wait(client, rnd)
        assert row["result_version"] == rnd + 1 and row["n_updates"] == 4
        assert all(a.sync_model() and a.version == rnd + 1 for a in agents)
    after = float((agents[0].onnx.probabilities(x.numpy()).argmax(1) == y.numpy()).mean())
    assert after > before + 0.15, (before, after)


def test_deadline_closes_a_round_with_the_updates_that_came(client) -> None:
    register(client)
    agents = _agents(client, 3)
    client.post("/v1/admin/rounds", json={"model_id": "small", "deadline_s": 1.0}, headers=admin())
    agents[0].train_round()
    row = _wait(client, 1, timeout=5)
    assert row["received"] == [agents[0].device_id] and row["result_version"] == 2


def test_a_restart_resumes_the_open_round_with_every_acknowledged_update(tmp_path) -> None:
    path = tmp_path / "restart.db"
    strategy = {"model_id": "small", "strategy": "fedadam", "strategy_kwargs": {"eta": 0.05}, "deadline_s": 60}
    with TestClient(make_app(path)) as client:
        register(client)
        agents = _agents(client, 3)
        client.post("/v1/admin/rounds", json=strategy, headers=admin())
        for a in agents:
            a.train_round()
        _wait(client, 1)
        client.post("/v1/admin/rounds", json=strategy, headers=admin())
        agents[0].train_round()
        agents[1].train_round()
        tokens = [a.api.token for a in agents]
    with TestClient(make_app(path)) as client:  # a new process would see exactly this database
        assert client.get("/health").json()["open_round"] == 2
        row = client.get("/v1/admin/rounds/2", headers=admin()).json()
        assert row["received"] == [agents[0].device_id, agents[1].device_id]
        for a, token in zip(agents, tokens, strict=True):
            a.api = type(a.api)(client=client, token=token, retries=0)
        agents[2].train_round()
        row = _wait(client, 2)
        assert row["n_updates"] == 3 and row["result_version"] == 3
        state = client.get("/v1/admin/models/small/versions/3/state", headers=admin())
        assert state.status_code == 200 and len(state.content) > 100
