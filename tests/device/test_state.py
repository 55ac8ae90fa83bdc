"""Devices that survive restarts: identity, pinned key and held model kept in a state folder; one line per event."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, SPEC, admin, make_app, register

from tandem.core.errors import ConfigError
from tandem.data.clients import SyntheticClients
from tandem.device.agent import DeviceAgent
from tandem.device.app_agent import AppAgent
from tandem.device.state import StateFile
from tandem.device.trainer import DeviceData
from tandem.federated.app import ClientApp
from tandem.models.mlp import build_model

POP = SyntheticClients(20, n_features=8, n_classes=3, seed=3, min_size=10, max_size=20)


def _data(i: int) -> DeviceData:
    view = POP.round_view(np.array([i]))
    return DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])


def _agent(client, state_dir, name: str = "agent-0") -> DeviceAgent:
    return DeviceAgent(client=client, enroll_key=ADMIN, data=_data(0), name=name, state_dir=state_dir, retries=0)


def _close_round(client, rnd: int) -> None:
    end = time.time() + 10
    while client.get(f"/v1/admin/rounds/{rnd}", headers=admin()).json()["status"] != "closed":
        assert time.time() < end, f"round {rnd} did not close"
        time.sleep(0.05)


def test_a_restarted_agent_resumes_without_enrolling_again(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tandem.device.events")
    state = tmp_path / "state"
    with TestClient(make_app(tmp_path / "s.db")) as client:
        register(client)
        first = _agent(client, state)
        assert first.start({"kind": "test"}) == "enrolled"
        assert first.sync_model() and first.version == 1
        first.predict(first.data.X.numpy()[:4])
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        assert first.train_round() == 1
        _close_round(client, 1)
        assert first.sync_model() and first.version == 2
        stored = json.loads((state / "agent-0.json").read_text())
        assert stored["device_id"] == first.device_id and stored["version"] == 2
        assert stored["public_key"] == first.public_key and stored["token"] == first.api.token
        assert (state / "agent-0.json").stat().st_mode & 0o777 == 0o600

        again = _agent(client, state)  # a new process: nothing in memory
        assert again.start() == "resumed"
        assert (again.device_id, again.version, again.public_key) == (first.device_id, 2, first.public_key)
        assert again.onnx is not None and not again.sync_model()  # it holds v2: 304, nothing downloaded
        assert len(client.get("/v1/admin/devices", headers=admin()).json()) == 1  # no second identity
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        assert again.train_round() == 2
        _close_round(client, 2)
        assert again.sync_model() and again.version == 3  # a delta on top of the held v2
    lines = [r.getMessage() for r in caplog.records if r.name == "tandem.device.events"]
    for event in ("enrolled", "model pulled and verified", "inference batch", "round joined", "update sent",
                  "resumed"):
        assert any(f" {event}" in line for line in lines), (event, lines)
    assert any("small v3 (delta" in line for line in lines)


def test_a_damaged_model_file_is_downloaded_again_and_bad_state_is_one_clear_error(tmp_path) -> None:
    state = tmp_path / "state"
    with TestClient(make_app(tmp_path / "s.db")) as client:
        register(client)
        agent = _agent(client, state)
        agent.start()
        agent.sync_model()
        (state / "agent-0.model").write_bytes(b"garbage")
        again = _agent(client, state)
        assert again.start() == "resumed" and again.version is None
        assert again.sync_model() and again.version == 1  # the full model again

        path = state / "agent-0.json"
        body = json.loads(path.read_text())
        for broken, message in [
            ("{not json", "not valid JSON"),
            (json.dumps({**body, "device_id": "7"}), "field 'device_id' must be int"),
            (json.dumps({**body, "token": "t1.999.x"}), "field 'token'"),
            (json.dumps({**body, "format": 9}), "format 9"),
        ]:
            path.write_text(broken)
            with pytest.raises(ConfigError, match=message) as info:
                _agent(client, state).start()
            assert str(path) in str(info.value)
        path.write_text(json.dumps({**body, "token": f"t1.{body['device_id']}.wrong-secret"}))
        with pytest.raises(ConfigError, match=r"refuses device .* remove the file"):
            _agent(client, state).start()
        path.write_text(json.dumps({**body, "model_id": "other"}))
        with pytest.raises(ConfigError, match="holds model 'other', not 'small'"):
            _agent(client, state).start()
    with pytest.raises(ConfigError, match="cannot name a state file"):
        StateFile(tmp_path, "../escape")


def test_an_app_agent_keeps_its_identity_across_restarts(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tandem.device.events")
    app = ClientApp(build_model(SPEC), POP)
    with TestClient(make_app(tmp_path / "a.db")) as client:
        register(client)
        first = AppAgent("http://testserver", app, 3, enroll_key=ADMIN, state_dir=tmp_path, client=client, retries=0)
        assert first.start() == "enrolled"
        again = AppAgent("http://testserver", app, 3, enroll_key=ADMIN, state_dir=tmp_path, client=client, retries=0)
        assert again.start() == "resumed" and again.device_id == first.device_id
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        assert again.answer(wait_s=0.0) == [1]
        assert len(client.get("/v1/admin/devices", headers=admin()).json()) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "tandem.device.events"]
    assert any("client-3 #1 resumed" in line for line in lines) and any("update sent" in line for line in lines)
