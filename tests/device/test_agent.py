"""The device agent trusts only verified artifacts, runs them with ONNX Runtime and asks the cloud by policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")

from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.server.conftest import ADMIN, make_app, register, small_state

from tandem.core.errors import ConfigError
from tandem.device.agent import DeviceAgent
from tandem.routing import get_policy
from tandem.routing.agent import AGENT_UNCERTAINTY, AgentPolicy
from tandem.server import db
from tandem.transport.signing import ArtifactSigner, SignatureError


@pytest.fixture
def served(tmp_path):
    app = make_app(tmp_path / "a.db")
    with TestClient(app) as client:
        register(client, small_state(0))
        yield app, client


def _agent(client, **kwargs) -> DeviceAgent:
    agent = DeviceAgent(client=client, enroll_key=ADMIN, retries=0, **kwargs)
    agent.enroll()
    return agent


def test_agent_loads_verified_model_and_matches_torch(served) -> None:
    app, client = served
    agent = _agent(client, public_key=app.state.tandem.signer.public_key_b64)
    assert agent.sync_model() and agent.version == 1 and not agent.sync_model()
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    from tandem.models.mlp import build_model

    model = build_model(agent.spec)
    model.load_state_dict(small_state(0))
    with torch.no_grad():
        assert np.allclose(agent.onnx.logits(x), model(torch.from_numpy(x)).numpy(), atol=1e-5)
    register(client, small_state(1))
    assert agent.sync_model() and agent.version == 2  # as a delta on top of version 1
    assert all(torch.allclose(agent.state[k], v, atol=1e-6) for k, v in small_state(1).items())


def test_tampered_artifact_is_rejected_and_nothing_loaded(served) -> None:
    app, client = served
    agent = _agent(client, public_key=app.state.tandem.signer.public_key_b64)
    app.state.tandem.registry.artifact("small", 1, "full")  # encode, sign and store it
    with app.state.tandem.store.write() as conn:
        row = conn.execute(db.artifacts.select()).first()
        evil = bytearray(row.payload)
        evil[-10] ^= 0xFF
        conn.execute(update(db.artifacts).values(payload=bytes(evil)))
    app.state.tandem.registry._artifacts.clear()
    with pytest.raises(SignatureError, match="hash mismatch"):
        agent.sync_model()
    assert agent.state is None and agent.onnx is None and agent.version is None


def test_artifact_signed_by_another_key_is_rejected(served) -> None:
    _, client = served
    agent = _agent(client, public_key=ArtifactSigner().public_key_b64)
    with pytest.raises(SignatureError, match="does not verify"):
        agent.sync_model()
    assert agent.onnx is None


def test_policy_decides_which_rows_go_to_the_cloud(served) -> None:
    app, client = served
    x = np.random.default_rng(1).standard_normal((10, 8)).astype(np.float32)
    never = _agent(client, policy=get_policy("confidence", threshold=1.0))  # 1 - top1 >= 1: never
    never.sync_model()
    assert not never.predict(x).requested.any()
    always = _agent(client, policy=AgentPolicy(get_policy("confidence", threshold=0.0)))  # always
    always.sync_model()
    prediction = always.predict(x)
    with torch.no_grad():
        cloud = app.state.tandem.inference.model(torch.from_numpy(x)).argmax(1).numpy()
    assert prediction.requested.all() and np.array_equal(prediction.labels, cloud)
    assert always.report(prediction, y=cloud) == 10
    default = _agent(client).policy
    assert isinstance(default, AgentPolicy) and default.policy.get_params()["threshold"] == AGENT_UNCERTAINTY
    probs = np.array([[0.85, 0.15], [0.79, 0.21], [0.6, 0.4]])
    assert default.decide(probs).tolist() == [False, True, True]  # asks when 1 - top1 >= 0.2
    with pytest.raises(ConfigError, match="RequestPolicy"):
        _agent(client, policy=object())
