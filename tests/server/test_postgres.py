"""The same server on a real PostgreSQL (runs only when ``TANDEM_TEST_POSTGRES_URL`` is set, e.g.
``postgresql+psycopg://tandem:tandem@127.0.0.1/tandem_test`` as ``.ci/postgres.sh`` prints it; the test runs in
a database of its own, dropped afterwards)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from tests.server.backends import NO_POSTGRES, fresh_postgres, postgres_url

pytestmark = pytest.mark.skipif(postgres_url() is None, reason=NO_POSTGRES)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


def test_rounds_replay_and_restart_on_postgresql(pg_url: str) -> None:
    PG_URL = pg_url
    from fastapi.testclient import TestClient
    from tests.server.conftest import ADMIN, admin, register

    from tandem.data.clients import SyntheticClients
    from tandem.device.agent import DeviceAgent
    from tandem.device.trainer import DeviceData
    from tandem.server.app import create_app

    pop = SyntheticClients(10, n_features=8, n_classes=3, seed=3)
    with TestClient(create_app(PG_URL, admin_token=ADMIN, tick_s=0.05)) as client:
        assert client.get("/health").json()["database"] is True
        register(client)
        agents = []
        for i in range(3):
            view = pop.round_view(np.array([i]))
            agent = DeviceAgent(client=client, enroll_key=ADMIN, retries=0,
                                data=DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]]))  # fmt: skip
            agent.enroll()
            agent.sync_model()
            agents.append(agent)
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers=admin())
        assert [a.train_round() for a in agents] == [1, 1, 1]
        end = time.time() + 10
        while client.get("/v1/admin/rounds/1", headers=admin()).json()["status"] != "closed":
            assert time.time() < end
            time.sleep(0.05)
        assert client.get("/v1/admin/rounds/1", headers=admin()).json()["result_version"] == 2
        client.post("/v1/admin/rounds", json={"model_id": "small", "close_when_complete": False}, headers=admin())
        agents[0].train_round()
        message = client.get("/v1/admin/feedback", headers=admin()).json()
        assert message["events"] == 0
    with TestClient(create_app(PG_URL, admin_token=ADMIN)) as client:  # restart: the open round resumes
        row = client.get("/v1/admin/rounds/current", headers=admin()).json()
        assert row["round"] == 2 and row["received"] == [agents[0].device_id]
        closed = client.post("/v1/admin/rounds/2/close", headers=admin()).json()
        assert closed["n_updates"] == 1 and closed["result_version"] == 3
        versions = client.get("/v1/admin/models", headers=admin()).json()
        assert json.dumps(versions[0]["spec"]) and versions[0]["version"] == 3
