"""Hostile updates: each is a clear 4xx with a stable code, counted in /metrics, and nothing is stored."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import func, select
from tests.server.conftest import admin, bearer, enroll, register, small_state

from tandem.core.codecs import get_codec
from tandem.federated.strategy import ClientResult
from tandem.federated.wire import encode_result
from tandem.server import db


def _uploads(app) -> int:
    with app.state.tandem.store.read() as conn:
        return conn.execute(select(func.count()).select_from(db.uploads)).scalar()


def _update(device_id: int, rnd: int, params: dict, codec="fp32", n: int = 10) -> tuple[bytes, dict]:
    update = encode_result(rnd, ClientResult(device_id, n, params), codec=codec)
    _, payload, meta = update.to_wire()
    return payload, meta


def _post(client, token: str, payload: bytes, meta: dict, kind: str = "update"):
    return client.post(
        "/v1/mailbox",
        params={"kind": kind},
        content=payload,
        headers={**bearer(token), "X-Tandem-Meta": json.dumps(meta)},
    )


@pytest.fixture
def round_setup(client, app):
    tokens = enroll(client, 3)
    register(client)
    ids = sorted(tokens)
    body = {"model_id": "small", "devices": ids[:2], "deadline_s": 60, "close_when_complete": False}
    assert client.post("/v1/admin/rounds", json=body, headers=admin()).status_code == 200
    return tokens, ids


def test_a_good_update_is_acknowledged_then_replays_are_refused(client, app, round_setup) -> None:
    tokens, ids = round_setup
    payload, meta = _update(ids[0], 1, small_state(5))
    ack = _post(client, tokens[ids[0]], payload, meta)
    assert ack.status_code == 200 and ack.json()["round"] == 1
    again = _post(client, tokens[ids[0]], payload, meta)
    assert again.status_code == 409 and again.json()["error"]["code"] == "replayed_update"
    assert "same bytes" in again.json()["error"]["message"]
    assert _uploads(app) == 1


def _cases(ids: list[int]) -> list[tuple[str, int, str, dict]]:
    good = small_state(5)
    nan = {k: v.clone() for k, v in good.items()}
    nan["0.weight"][0, 0] = float("nan")
    wrong_shape = {**good, "0.weight": torch.zeros(16, 9)}
    extra = {**good, "evil": torch.zeros(3)}
    return [
        ("not in round", ids[2], "not_in_round", _update(ids[2], 1, good)),
        ("unknown round", ids[0], "not_in_round", _update(ids[0], 7, good)),
        ("NaN", ids[0], "bad_update", _update(ids[0], 1, nan, codec=get_codec("fp32", allow_nonfinite=True))),
        ("shape", ids[0], "bad_update", _update(ids[0], 1, wrong_shape)),
        ("extra tensor", ids[0], "bad_update", _update(ids[0], 1, extra)),
        ("garbage payload", ids[0], "bad_update", (b"\x00" * 64, {"round": 1, "n_examples": 3})),
        ("meta lacks round", ids[0], "bad_update", (_update(ids[0], 1, good)[0], {"n_examples": 3})),
        ("negative count", ids[0], "bad_update", (_update(ids[0], 1, good)[0], {"round": 1, "n_examples": -1})),
        ("unknown kind", ids[0], "unknown_kind", (b"x", {})),
    ]


def test_hostile_updates_are_refused_counted_and_not_stored(client, app, round_setup) -> None:
    tokens, ids = round_setup
    for name, device, code, (payload, meta) in _cases(ids):
        kind = "exfiltrate" if name == "unknown kind" else "update"
        r = _post(client, tokens[device], payload, meta, kind=kind)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert r.json()["error"]["code"] == code, (name, r.json())
        assert r.json()["error"]["message"], name
    assert _uploads(app) == 0
    metrics = client.get("/metrics").text
    assert 'tandem_rejected_total{reason="bad_update"} 6.0' in metrics
    assert 'tandem_rejected_total{reason="not_in_round"} 2.0' in metrics


def test_unknown_revoked_oversized_and_bad_headers(client, app, round_setup) -> None:
    tokens, ids = round_setup
    payload, meta = _update(ids[0], 1, small_state(5))
    assert _post(client, "t1.999.nope", payload, meta).status_code == 401
    assert _post(client, "garbage", payload, meta).status_code == 401
    client.post(f"/v1/admin/devices/{ids[1]}/revoke", headers=admin())
    r = _post(client, tokens[ids[1]], *_update(ids[1], 1, small_state(5)))
    assert r.status_code == 403 and r.json()["error"]["code"] == "revoked_device"
    app.state.tandem.max_body_bytes = 2048
    r = _post(client, tokens[ids[0]], b"x" * 4096, meta)
    assert r.status_code == 413
    r = client.post("/v1/mailbox", content=payload, headers={**bearer(tokens[ids[0]]), "X-Tandem-Meta": "{nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_meta"
    assert _uploads(app) == 0


def test_late_update_is_refused(client, app, round_setup) -> None:
    tokens, ids = round_setup
    assert client.post("/v1/admin/rounds/1/close", headers=admin()).json()["status"] == "closed"
    r = _post(client, tokens[ids[0]], *_update(ids[0], 1, small_state(5)))
    assert r.status_code == 409 and r.json()["error"]["code"] == "late_update"
    assert _uploads(app) == 0
    assert client.post("/v1/admin/rounds/1/close", headers=admin()).status_code == 409


def test_a_strategy_hook_can_refuse_updates(tmp_path) -> None:
    from fastapi.testclient import TestClient
    from tests.server.conftest import make_app

    from tandem.core.errors import PayloadError

    def norm_bound(result, plan) -> None:
        norm = sum(float((result.params[k] - plan.params[k]).norm()) for k in plan.params)
        if norm > 1.0:
            raise PayloadError(f"update norm {norm:.2f} exceeds the bound 1.0")

    with TestClient(make_app(tmp_path / "h.db", on_update=norm_bound)) as client:
        tokens = enroll(client, 1)
        register(client)
        ((device, token),) = tokens.items()
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        far = {k: v + 10 for k, v in small_state().items()}
        r = _post(client, token, *_update(device, 1, far))
        assert r.status_code == 422 and "exceeds the bound" in r.json()["error"]["message"]
        assert _post(client, token, *_update(device, 1, small_state())).status_code == 200
