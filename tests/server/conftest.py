"""Fixtures of the server tests: an app over a temporary database (SQLite, and PostgreSQL when
``TANDEM_TEST_POSTGRES_URL`` is set: see :mod:`tests.server.backends`), a client, enrolled devices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import torch
from fastapi.testclient import TestClient
from tests.server.backends import BACKENDS, database

from tandem.core.envelope import encode_state
from tandem.models.mlp import build_model, mlp_spec
from tandem.server.app import create_app

ADMIN = "admin-token"
SPEC = mlp_spec([8, 16, 3])


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(SPEC).state_dict()


def register(client: TestClient, state: dict | None = None, model_id: str = "small") -> dict:
    body = encode_state(state or small_state())
    response = client.post(
        f"/v1/admin/models/{model_id}/versions",
        content=body,
        headers={**admin(), "X-Tandem-Meta": json.dumps({"spec": SPEC})},
    )
    assert response.status_code == 200, response.text
    return response.json()


def enroll(client: TestClient, n: int = 1) -> dict[int, str]:
    out = {}
    for i in range(n):
        body = client.post("/v1/devices", json={"name": f"d{i}"}, headers=admin()).json()
        out[body["device_id"]] = body["token"]
    return out


def make_app(db: Path | str, **kwargs):
    """The test app over ``db``: an SQLite file's path, or a database URL."""
    torch.manual_seed(123)
    large = build_model(mlp_spec([8, 32, 3]))
    defaults = {"admin_token": ADMIN, "inference_model": large, "inference_in_features": 8, "tick_s": 0.05}
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return create_app(url, **{**defaults, **kwargs})


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend: SQLite always; PostgreSQL when TANDEM_TEST_POSTGRES_URL is set
    (skipped, saying so, otherwise)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def app(db_url: str):
    return make_app(db_url)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
