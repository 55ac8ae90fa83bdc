"""Rounds without a person: leases decide who is live, rounds over-select and close at a quorum, a policy opens
them, and all of it survives a restart."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, admin, bearer, make_app, register

from tandem.core.errors import ConfigError
from tandem.data.clients import SyntheticClients
from tandem.device.agent import DeviceAgent
from tandem.device.trainer import DeviceData
from tandem.server.policy import RoundPolicy
from tandem.server.rounds import RoundSpec, quorum_of

POP = SyntheticClients(50, n_features=8, n_classes=3, seed=3, min_size=10, max_size=20)


def _agents(client, n: int, start: int = 0) -> list[DeviceAgent]:
    agents = []
    for i in range(start, start + n):
        view = POP.round_view(np.array([i]))
        data = DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])
        agent = DeviceAgent(client=client, enroll_key=ADMIN, data=data, name=f"a{i}", retries=0)
        agent.enroll()
        agent.sync_model()
        agents.append(agent)
    return agents


def _wait(client, rnd: int, status: str = "closed", timeout: float = 10.0) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        response = client.get(f"/v1/admin/rounds/{rnd}", headers=admin())
        if response.status_code == 200 and response.json()["status"] == status:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"round {rnd} not {status} after {timeout}s")


def test_quorum_counts_and_policy_waits() -> None:
    assert [quorum_of(n, 0.8) for n in (1, 5, 10, 20)] == [1, 4, 8, 16]
    assert quorum_of(10, 0.7) == 7 and quorum_of(6, None) == 6
    policy = RoundPolicy(RoundSpec("m", clients_per_round=4), every_s=10.0, min_live=2, max_rounds=3)
    assert policy.needed_live == 4
    assert policy.waiting_for(100.0, 0, None, 4) is None
    assert "3 of 4" in policy.waiting_for(100.0, 0, None, 3)
    assert "every 10 s" in policy.waiting_for(105.0, 1, 100.0, 9)
    assert policy.waiting_for(110.0, 1, 100.0, 9) is None
    assert "done" in policy.waiting_for(200.0, 3, 100.0, 9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spec": RoundSpec("m", quorum=1.5)}, "quorum"),
        ({"spec": RoundSpec("m", over_selection=1.5)}, "over_selection needs clients_per_round"),
        ({"spec": RoundSpec("m", strategy="nope")}, "strategy 'nope'"),
        ({"spec": RoundSpec("m", devices=[1])}, "must not list devices"),
        ({"spec": RoundSpec("m"), "every_s": 0.0}, "every_s"),
        ({"spec": RoundSpec("m"), "min_live": 0}, "min_live"),
    ],
)
def test_a_bad_policy_is_refused_before_the_server_starts(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        RoundPolicy(**kwargs)


def test_only_devices_with_a_current_lease_are_selected(tmp_path) -> None:
    with TestClient(make_app(tmp_path / "lease.db", lease_s=1.5)) as client:
        register(client)
        agents = _agents(client, 4)
        time.sleep(1.6)  # every lease ran out
        refused = client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_live_devices"
        live = agents[:3]
        for agent in live:
            body = agent.checkin()
            assert body["device_id"] == agent.device_id and body["lease_s"] == 1.5 and body["open_round"] is None
        client.post(f"/v1/admin/devices/{agents[2].device_id}/revoke", headers=admin())
        policy = client.get("/v1/admin/policy", headers=admin()).json()
        assert policy["live_devices"] == 2 and policy["policy"] is None
        row = client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin()).json()
        assert row["devices"] == [agents[0].device_id, agents[1].device_id]  # not the silent one, not the revoked
        assert agents[3].train_round() is None  # it was not sent a plan
        body = agents[0].checkin()
        assert body["open_round"] == 1 and body["selected"] and not body["submitted"]
        assert client.post("/v1/checkin", headers=bearer("t1.999.nope")).status_code == 401


def test_a_round_over_selects_and_closes_at_its_quorum(client) -> None:
    register(client)
    agents = _agents(client, 8)
    spec = {"model_id": "small", "clients_per_round": 4, "over_selection": 1.5, "quorum": 0.5, "deadline_s": 30}
    row = client.post("/v1/admin/rounds", json=spec, headers=admin()).json()
    assert len(row["devices"]) == 6 and row["quorum"] == 3 and row["clients_per_round"] == 4
    chosen = [a for a in agents if a.device_id in row["devices"]]
    assert [a.train_round() for a in chosen[:3]] == [1, 1, 1]
    closed = _wait(client, 1, timeout=5)
    assert closed["closed_by"] == "quorum" and closed["n_updates"] == 3 and closed["result_version"] == 2
    assert chosen[3].train_round() is None  # its untaken plan was withdrawn at the close
    too_many = client.post("/v1/admin/rounds", json={**spec, "clients_per_round": 9}, headers=admin())
    assert too_many.status_code == 409 and "only 8 devices" in too_many.json()["error"]["message"]
    bad = client.post("/v1/admin/rounds", json={**spec, "quorum": 0}, headers=admin())
    assert bad.status_code == 422


def test_a_late_update_after_the_quorum_is_counted_not_raised(client) -> None:
    register(client)
    agents = _agents(client, 3)
    client.post("/v1/admin/rounds", json={"model_id": "small", "quorum": 0.3}, headers=admin())
    from tandem.federated.wire import PLAN_KIND

    late = agents[2]
    plans = late.transport().receive_on_device(late.device_id, PLAN_KIND)  # taken before the round closes
    assert agents[0].train_round() == 1
    _wait(client, 1, timeout=5)
    from tandem.device.events import send_update
    from tandem.device.trainer import DeviceTrainer
    from tandem.models.mlp import build_model

    trainer = DeviceTrainer(build_model(late.spec), DeviceData(late.device_id, late.data.X, late.data.y))
    update = trainer.update_for(trainer.open_plan(plans[0]))
    assert not send_update(late.transport(), late.device_id, update, late.who, late.counts)
    assert late.counts["updates_refused"] == 1


def test_the_policy_opens_rounds_over_live_devices_and_a_restart_goes_on(tmp_path) -> None:
    path = tmp_path / "policy.db"
    spec = RoundSpec("small", objective={"lr": 0.1}, deadline_s=30)
    policy = RoundPolicy(spec, min_live=3, max_rounds=3)
    with TestClient(make_app(path, round_policy=policy)) as client:
        register(client)
        agents = _agents(client, 2)
        time.sleep(0.3)
        assert client.get("/v1/admin/rounds", headers=admin()).json() == []
        status = client.get("/v1/admin/policy", headers=admin()).json()
        assert "2 of 3" in status["status"] and status["policy"]["min_live"] == 3
        agents += _agents(client, 1, start=2)
        for rnd in (1, 2):
            row = _wait(client, rnd, status="open")
            assert row["opened_by"] == "policy" and len(row["devices"]) == 3
            assert [a.train_round() for a in agents] == [rnd] * 3
            assert _wait(client, rnd)["closed_by"] == "complete"
        _wait(client, 3, status="open")
        assert agents[0].train_round() == 3
        tokens = [a.api.token for a in agents]
    with TestClient(make_app(path, round_policy=policy)) as client:  # round 3 goes on after the restart
        for agent, token in zip(agents, tokens, strict=True):
            agent.api = type(agent.api)(client=client, token=token, retries=0)
        assert [a.train_round() for a in agents[1:]] == [3, 3]
        row = _wait(client, 3)
        assert row["n_updates"] == 3 and row["result_version"] == 4
        time.sleep(0.3)
        rounds = client.get("/v1/admin/rounds", headers=admin()).json()
        assert [r["round"] for r in rounds] == [3, 2, 1]  # max_rounds reached: no round 4
        assert "done" in client.get("/v1/admin/policy", headers=admin()).json()["status"]


def test_the_schedule_waits_between_rounds(tmp_path) -> None:
    policy = RoundPolicy(RoundSpec("small", deadline_s=30), every_s=1.0, min_live=2, max_rounds=2)
    with TestClient(make_app(tmp_path / "every.db", round_policy=policy)) as client:
        register(client)
        agents = _agents(client, 2)
        first = _wait(client, 1, status="open")
        assert [a.train_round() for a in agents] == [1, 1]
        _wait(client, 1)
        second = _wait(client, 2, status="open", timeout=5)
        assert second["opened_at"] - first["opened_at"] >= 1.0
