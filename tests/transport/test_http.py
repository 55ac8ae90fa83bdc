"""The HTTP transport implements the same Transport protocol: one scenario run both ways gives the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from tandem.core.errors import ConfigError, TransportError
from tandem.data.clients import SyntheticClients
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import get_strategy
from tandem.fleet import sample_fleet
from tandem.models.mlp import build_model, mlp_spec
from tandem.server.app import create_app
from tandem.transport import InProcessTransport, Transport
from tandem.transport.http import HttpTransport
from tandem.transport.httpclient import HttpError

SPEC = mlp_spec([8, 16, 3])
POP = SyntheticClients(8, n_features=8, n_classes=3, seed=1)


def scenario(transport: Transport, ids: list[int], strategy: str, **kwargs) -> dict[str, torch.Tensor]:
    """Three rounds of ``strategy`` over ``transport``: the cloud broadcasts, devices train and answer."""
    torch.manual_seed(0)
    params = {k: v.clone() for k, v in build_model(SPEC).state_dict().items()}
    loop = RoundLoop(get_strategy(strategy, **kwargs))
    loop.strategy.initialize(params)
    devices = []
    for c in ids:
        view = POP.round_view(np.array([c]))
        devices.append(DeviceTrainer(build_model(SPEC), DeviceData(c, view.X[view.rows[0]], view.y[view.rows[0]])))
    for rnd in (1, 2, 3):
        plan = loop.plan(rnd, params)
        loop.send(transport, plan, ids)
        for device in devices:
            device.step(transport)
        got = loop.collect(transport, plan, {d: d for d in ids})
        assert not got.refused
        params = loop.aggregate(rnd, params, got.results)
    return params


@pytest.fixture
def http(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'h.db'}", admin_token="adm")
    with TestClient(app) as client:
        tokens = {}
        for i in range(5):
            body = client.post("/v1/devices", json={"name": f"d{i}"}, headers={"Authorization": "Bearer adm"}).json()
            tokens[body["device_id"]] = body["token"]
        yield HttpTransport(admin_token="adm", device_tokens=tokens, client=client, retries=0), sorted(tokens)


@pytest.mark.parametrize(("strategy", "kwargs"), [("fedavg", {}), ("scaffold", {"n_clients_total": 8})])
def test_same_scenario_same_model_in_process_and_over_http(http, strategy, kwargs) -> None:
    transport, ids = http
    assert isinstance(transport, Transport)
    over_http = scenario(transport, ids, strategy, **kwargs)
    sim = InProcessTransport(sample_fleet(8))
    in_process = scenario(sim, ids, strategy, **kwargs)
    assert set(over_http) == set(in_process)
    for key in in_process:
        assert torch.equal(over_http[key], in_process[key]), key
    assert transport.ledger.bytes_up == sim.ledger.bytes_up
    assert transport.ledger.bytes_down == sim.ledger.bytes_down


def test_generic_messages_round_trip_and_errors_are_clear(http) -> None:
    transport, ids = http
    transport.broadcast(ids[:2], "note", b"hello", {"x": 1})
    got = transport.receive_on_device(ids[0], "note")
    assert [(m.kind, m.payload, dict(m.meta)) for m in got] == [("note", b"hello", {"x": 1})]
    assert transport.receive_on_device(ids[0]) == []
    transport.send_to_cloud(ids[1], "metrics", b"m", {"battery": 0.5})
    (msg,) = transport.receive_on_cloud("metrics")
    assert msg.device_id == ids[1] and msg.payload == b"m"
    with pytest.raises(HttpError, match="unknown or revoked devices"):
        transport.broadcast([999], "note", b"x")
    with pytest.raises(TransportError, match="no credential for device 999"):
        transport.send_to_cloud(999, "metrics", b"x")
    with pytest.raises(HttpError, match="unknown_kind"):
        transport.send_to_cloud(ids[0], "exfiltrate", b"x")
    cloud_less = HttpTransport(device_tokens=transport.device_tokens, client=transport.api.client)
    with pytest.raises(ConfigError, match="admin_token"):
        cloud_less.receive_on_cloud()
    transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.send_to_cloud(ids[0], "metrics", b"x")
