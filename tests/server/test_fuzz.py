"""Fuzz every endpoint from the server's own OpenAPI spec (schemathesis): no input may cause a 5xx.

Each generated request is sent three ways: without credentials, as an enrolled device and as the admin,
so the fuzzer reaches the handlers behind authentication. A short pass runs by default; the long one is
``-m slow``.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tests.server.conftest import ADMIN, make_app, register  # noqa: E402


def _schema(tmp_path_factory):
    from fastapi.testclient import TestClient

    app = make_app(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    with TestClient(app) as client:
        register(client)
        token = client.post("/v1/devices", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {ADMIN}"}).json()
        client.post("/v1/admin/rounds", json={"model_id": "small"}, headers={"Authorization": f"Bearer {ADMIN}"})
    return schemathesis.openapi.from_asgi("/openapi.json", app), token["token"]


def _check(case, token: str) -> None:
    if case.query and "wait_s" in case.query:
        case.query["wait_s"] = 0  # a valid long poll just waits: keep the run short
    for auth in (None, f"Bearer {token}", f"Bearer {ADMIN}"):
        headers = dict(case.headers or {})
        if auth is not None:
            headers["Authorization"] = auth
        response = case.call(headers=headers)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"


def _fuzzer(operation, token: str, examples: int):
    """A hypothesis test of one API operation (built per operation, so each binds its own)."""

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data) -> None:
        _check(data.draw(operation.as_strategy()), token)

    return run


def _run(tmp_path_factory, examples: int) -> int:
    schema, token = _schema(tmp_path_factory)
    ran = 0
    for result in schema.get_all_operations():
        _fuzzer(result.ok(), token, examples)()
        ran += 1
    return ran


def test_fuzz_short_pass_has_no_server_errors(tmp_path_factory) -> None:
    assert _run(tmp_path_factory, examples=4) >= 20


@pytest.mark.slow
def test_fuzz_long_pass_has_no_server_errors(tmp_path_factory) -> None:
    assert _run(tmp_path_factory, examples=60) >= 20
