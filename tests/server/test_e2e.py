"""End to end on loopback: a real server process, 20 device agents, delivery, collaborative inference and
three federated rounds; the published model must equal the same rounds simulated in process, bit for bit."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
import torch
from tests.server.procs import ADMIN, ServerProcess

from tandem.core.envelope import decode_state
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.fleet import sample_fleet
from tandem.models.mlp import build_model
from tandem.recipes.device.fleet import FleetReport, run_fleet
from tandem.recipes.serve.demo import DemoTask
from tandem.transport import InProcessTransport

N_DEVICES, ROUNDS = 20, 3
HEAD = {"Authorization": f"Bearer {ADMIN}"}
OBJECTIVE = {"lr": 0.1, "epochs": 2}


def _simulate(task: DemoTask, initial: dict, agents: dict[int, int]) -> dict[str, torch.Tensor]:
    """The same rounds in process: device ``d`` holds demo client ``agents[d]``."""
    population = task.clients()
    trainers = []
    for device_id, client in sorted(agents.items()):
        view = population.round_view(np.array([client]))
        data = DeviceData(device_id, view.X[view.rows[0]], view.y[view.rows[0]])
        trainers.append(DeviceTrainer(build_model(task.small_spec()), data, seed=task.seed))
    transport = InProcessTransport(sample_fleet(max(agents) + 1))
    params = {k: v.clone() for k, v in initial.items()}
    for rnd in range(1, ROUNDS + 1):
        loop = RoundLoop(get_strategy("fedavg", objective=LocalObjective(**OBJECTIVE)))
        plan = loop.plan(rnd, params)
        loop.send(transport, plan, sorted(agents))
        for trainer in trainers:
            trainer.step(transport)
        got = loop.collect(transport, plan, {d: d for d in agents})
        params = loop.aggregate(rnd, params, got.results)
    return params


@pytest.mark.integration
def test_server_process_and_twenty_agents(tmp_path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'e2e.db'}", log=tmp_path / "server.log").start()
    report = FleetReport()
    try:
        fleet = threading.Thread(
            target=lambda: report.__dict__.update(
                run_fleet(server.url, N_DEVICES, enroll_key=ADMIN, rounds=ROUNDS, duration_s=150).__dict__
            )
        )
        fleet.start()
        api = httpx.Client(base_url=server.url, headers=HEAD, timeout=30)
        end = time.time() + 60
        while len(api.get("/v1/admin/devices").json()) < N_DEVICES and time.time() < end:
            time.sleep(0.2)
        time.sleep(1.0)  # let every agent pull the model and run its inference batch
        for rnd in range(1, ROUNDS + 1):
            body = {"model_id": "small", "deadline_s": 60, "objective": OBJECTIVE}
            opened = api.post("/v1/admin/rounds", json=body).json()
            assert opened["round"] == rnd and len(opened["devices"]) == N_DEVICES
            while api.get(f"/v1/admin/rounds/{rnd}").json()["status"] != "closed":
                assert time.time() < end + 120, "round did not close"
                time.sleep(0.1)
        fleet.join(120)
        assert report.errors == [] and len(report.devices) == N_DEVICES
        assert all(r == [1, 2, 3] for r in report.rounds.values()) and len(report.rounds) == N_DEVICES
        assert report.inferred == 16 * N_DEVICES and report.requested > 0
        rounds = [api.get(f"/v1/admin/rounds/{r}").json() for r in (1, 2, 3)]
        assert [r["n_updates"] for r in rounds] == [N_DEVICES] * 3 and rounds[-1]["result_version"] == 4
        feedback = api.get("/v1/admin/feedback").json()
        assert feedback["events"] == 16 * N_DEVICES
        v1 = decode_state(api.get("/v1/admin/models/small/versions/1/state").content)[0]
        v4 = decode_state(api.get("/v1/admin/models/small/versions/4/state").content)[0]
        agents = {d["id"]: int(d["name"].split("-")[1]) for d in api.get("/v1/admin/devices").json()}
        metrics = api.get("/metrics").text
    finally:
        server.stop()
    task = DemoTask()
    simulated = _simulate(task, v1, agents)
    assert all(torch.equal(v4[k], simulated[k]) for k in v4), "server model differs from the simulated rounds"
    before, after = build_model(task.small_spec()), build_model(task.small_spec())
    before.load_state_dict(v1)
    after.load_state_dict(v4)
    acc_before, acc_after = task.accuracy(before), task.accuracy(after)
    print(f"e2e: {N_DEVICES} agents, {ROUNDS} rounds; accuracy v1 {acc_before:.4f} -> v4 {acc_after:.4f}; "
          f"{report.requested}/{report.inferred} rows asked the cloud, {report.correct} correct")  # fmt: skip
    assert acc_after > acc_before + 0.2, (acc_before, acc_after)
    assert "tandem_updates_accepted_total 60.0" in metrics
