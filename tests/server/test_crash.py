"""Crash safety: kill -9 the server while updates arrive (>= 10 times); after each restart every acknowledged
update is present exactly once, and the round completes with all of them. On SQLite and on PostgreSQL; and on
PostgreSQL with ``--workers 2``, where a worker is killed and the supervisor starts another.

The kills are paced by the submissions' progress, not by the clock: kill k waits until a (randomly placed)
share k/(KILLS+1) of the updates is acknowledged, so every kill lands while submissions go on, on a fast machine
or a slow one. A submission cannot progress while the server is down, so the acknowledged counts at the kills
are distinct."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from tests.server.backends import database
from tests.server.procs import ADMIN, ServerProcess

from tandem.core.envelope import decode_state, encode_state
from tandem.federated.strategy import ClientResult
from tandem.federated.wire import encode_result
from tandem.models.mlp import build_model, mlp_spec

HEAD = {"Authorization": f"Bearer {ADMIN}"}
SPEC = mlp_spec([32, 32, 10])
N_DEVICES, KILLS = 120, 10


class Submitter(threading.Thread):
    """Sends each device's update until acknowledged, through crashes (connection errors are retried)."""

    def __init__(self, url: str, tokens: dict[int, str], updates: dict[int, tuple[bytes, dict]]) -> None:
        super().__init__(daemon=True)
        self.url, self.tokens, self.updates = url, tokens, updates
        self.acked: list[int] = []
        self.stop = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # re-raised by the test
            self.error = exc

    def _run(self) -> None:
        client = httpx.Client(base_url=self.url, timeout=10)
        pending = sorted(self.tokens)
        while pending and not self.stop:
            device = pending[0]
            payload, meta = self.updates[device]
            headers = {"Authorization": f"Bearer {self.tokens[device]}", "X-Tandem-Meta": json.dumps(meta)}
            try:
                r = client.post("/v1/mailbox", params={"kind": "update"}, content=payload, headers=headers)
            except httpx.TransportError:
                time.sleep(0.05)  # the server (or this connection's worker) is down: try again
                continue
            same = r.status_code == 409 and "same bytes" in r.json()["error"]["message"]
            assert r.status_code == 200 or same, r.text
            self.acked.append(device)
            pending.pop(0)
            time.sleep(0.005)


def wait_for_acks(submitter: Submitter, n: int, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while len(submitter.acked) < n:
        assert submitter.error is None, submitter.error
        assert time.monotonic() < end, f"submissions stalled at {len(submitter.acked)} acknowledged"
        time.sleep(0.002)


def setup_round(server: ServerProcess) -> tuple[dict, dict[int, str], dict[int, tuple[bytes, dict]]]:
    api = httpx.Client(base_url=server.url, headers=HEAD, timeout=30)
    torch.manual_seed(0)
    base = build_model(SPEC).state_dict()
    meta = json.dumps({"spec": SPEC})
    assert api.post("/v1/admin/models/crash/versions", content=encode_state(base),
                    headers={"X-Tandem-Meta": meta}).status_code == 200  # fmt: skip
    tokens = {}
    for i in range(N_DEVICES):
        body = api.post("/v1/devices", json={"name": f"c{i}"}).json()
        tokens[body["device_id"]] = body["token"]
    body = {"model_id": "crash", "deadline_s": 3600, "close_when_complete": False}
    assert api.post("/v1/admin/rounds", json=body).status_code == 200
    updates = {}
    for d in tokens:
        params = {k: v + 0.001 * d for k, v in base.items()}
        _, payload, m = encode_result(1, ClientResult(d, 10 + d % 7, params)).to_wire()
        updates[d] = (payload, m)
    return base, tokens, updates


def check_round_closes_with_all(server: ServerProcess, base: dict, tokens: dict[int, str]) -> None:
    api = httpx.Client(base_url=server.url, headers=HEAD, timeout=30)
    row = api.get("/v1/admin/rounds/1").json()
    assert sorted(row["received"]) == sorted(tokens) and len(row["received"]) == N_DEVICES
    closed = api.post("/v1/admin/rounds/1/close").json()
    assert closed["status"] == "closed" and closed["n_updates"] == N_DEVICES and closed["result_version"] == 2
    v2 = decode_state(api.get("/v1/admin/models/crash/versions/2/state").content)[0]
    weights = {d: 10 + d % 7 for d in tokens}
    shift = sum(0.001 * d * w for d, w in weights.items()) / sum(weights.values())
    assert all(torch.allclose(v2[k], base[k] + shift, atol=1e-5) for k in base)


def kill_targets(rng: random.Random) -> list[int]:
    """Acknowledged counts to kill at: one in each of KILLS equal slices of the first KILLS/(KILLS+1) updates."""
    step = N_DEVICES / (KILLS + 1)
    return [int(step * (k + rng.uniform(0.2, 0.9))) + 1 for k in range(KILLS)]


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill9_during_a_round_loses_no_acknowledged_update(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path, "crash.db") as url:
        server = ServerProcess(url, None, tmp_path / "server.log", "--no-demo")
        server.start()
        try:
            base, tokens, updates = setup_round(server)
            submitter = Submitter(server.url, tokens, updates)
            submitter.start()
            rng = random.Random(0)
            in_flight: list[int] = []
            for target in kill_targets(rng):
                wait_for_acks(submitter, target)
                time.sleep(rng.uniform(0, 0.01))  # somewhere inside the next request
                server.kill9()
                acked_before_kill = set(submitter.acked)  # the server is dead: these were answered before the kill
                server.start()
                row = httpx.get(f"{server.url}/v1/admin/rounds/1", headers=HEAD).json()
                received = row["received"]
                assert row["status"] == "open" and len(received) == len(set(received))
                assert acked_before_kill <= set(received), "an acknowledged update was lost"
                in_flight.append(len(acked_before_kill))
            submitter.join(300)
            assert submitter.error is None, submitter.error
            assert not submitter.is_alive() and sorted(submitter.acked) == sorted(tokens)
            assert len(set(in_flight)) == KILLS and max(in_flight) < N_DEVICES, (
                f"kills did not land during submissions: acked counts {in_flight}"
            )
            check_round_closes_with_all(server, base, tokens)
        finally:
            server.stop()


@pytest.mark.integration
def test_kill9_of_a_worker_loses_no_acknowledged_update(tmp_path: Path) -> None:
    """PostgreSQL, ``--workers 2``: kill -9 a worker at paced points; the other serves on, the supervisor starts a
    new one, and every acknowledged update is stored exactly once."""
    kills = 4
    with database("postgresql", tmp_path) as url:
        server = ServerProcess(url, None, tmp_path / "server.log", "--no-demo", "--workers", "2")
        server.start(timeout=180)
        try:
            base, tokens, updates = setup_round(server)
            submitter = Submitter(server.url, tokens, updates)
            submitter.start()
            rng = random.Random(1)
            step = N_DEVICES / (kills + 1)
            killed_at = []
            for k in range(kills):
                wait_for_acks(submitter, int(step * (k + rng.uniform(0.2, 0.9))) + 1)
                pids = server.worker_pids()
                assert pids, "no worker process to kill"
                victim = rng.choice(pids)
                os.kill(victim, signal.SIGKILL)
                killed_at.append(len(submitter.acked))
            submitter.join(300)
            assert submitter.error is None, submitter.error
            assert not submitter.is_alive() and sorted(submitter.acked) == sorted(tokens)
            assert max(killed_at) < N_DEVICES, f"kills did not land during submissions: {killed_at}"
            check_round_closes_with_all(server, base, tokens)
        finally:
            server.stop()
