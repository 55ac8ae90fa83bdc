"""Run many device agents in one process (threads), as ``tandem device --devices N`` does.

Each agent enrolls (its profile names a device tier drawn by :func:`~tandem.fleet.sample_fleet`, which the
server's dashboard groups by), pulls and verifies the model, runs collaborative inference on part of its own
data (logging its request decisions), then answers federated rounds until it has done ``rounds`` of them or
``duration_s`` runs out. Agent ``i`` holds client ``offset + i`` of the demo task's population.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tandem.device.agent import DeviceAgent
from tandem.device.trainer import DeviceData
from tandem.fleet import sample_fleet
from tandem.recipes.serve.demo import DemoTask
from tandem.routing.agent import AGENT_UNCERTAINTY
from tandem.routing.policies.confidence import ConfidencePolicy


@dataclass
class FleetReport:
    """What the agents did: rounds answered per device, inference counts, errors."""

    devices: list[int] = field(default_factory=list)
    rounds: dict[int, list[int]] = field(default_factory=dict)
    inferred: int = 0
    requested: int = 0
    correct: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def run_agent(
    agent: DeviceAgent,
    rounds: int,
    deadline: float,
    infer_rows: int,
    report: FleetReport,
    lock: threading.Lock,
    profile: dict[str, Any] | None = None,
) -> None:
    """One agent's life (errors are recorded in ``report``, not raised); it enrolls with ``profile``."""
    try:
        agent.enroll(profile or {"kind": "demo"})
        agent.sync_model()
        x, y = agent.data.X.numpy()[:infer_rows], agent.data.y.numpy()[:infer_rows]
        prediction = agent.predict(x)
        agent.report(prediction, y)
        with lock:
            report.devices.append(agent.device_id)
            report.inferred += len(y)
            report.requested += int(prediction.requested.sum())
            report.correct += int((prediction.labels == y).sum())
        while len(agent.rounds_done) < rounds and time.time() < deadline:
            agent.sync_model()
            agent.train_round(wait_s=1.0)
        agent.sync_model()
        with lock:
            report.rounds[agent.device_id] = list(agent.rounds_done)
    except Exception as exc:
        with lock:
            report.errors.append(f"{agent.name}: {type(exc).__name__}: {exc}")


def run_fleet(
    server_url: str,
    n_devices: int,
    *,
    enroll_key: str,
    rounds: int = 3,
    model_id: str = "small",
    task: DemoTask | None = None,
    offset: int = 0,
    public_key: str | None = None,
    duration_s: float = 300.0,
    infer_rows: int = 16,
    uncertainty: float = AGENT_UNCERTAINTY,
    **client_kwargs: Any,
) -> FleetReport:
    """Run ``n_devices`` agents against ``server_url`` until each has answered ``rounds`` rounds.

    Each agent asks the cloud when its small model's ``1 - top1 >= uncertainty`` (routing's ``confidence``).
    """
    task = task or DemoTask()
    population = task.clients()
    report, lock = FleetReport(), threading.Lock()
    started = time.time()
    agents = []
    for i in range(n_devices):
        view = population.round_view(np.array([offset + i]))
        data = DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])
        agents.append(
            DeviceAgent(
                server_url,
                model_id=model_id,
                data=data,
                enroll_key=enroll_key,
                name=f"agent-{offset + i}",
                public_key=public_key,
                policy=ConfidencePolicy(threshold=uncertainty),
                seed=task.seed,
                **client_kwargs,
            )
        )
    fleet = sample_fleet(offset + n_devices, seed=task.seed)  # the tier each agent reports at enrollment
    tiers = [fleet.tier_names[t] for t in fleet.tier[offset:]]
    with ThreadPoolExecutor(max_workers=n_devices) as pool:
        for agent, tier in zip(agents, tiers, strict=True):
            profile = {"kind": "demo", "tier": tier}
            pool.submit(run_agent, agent, rounds, started + duration_s, infer_rows, report, lock, profile)
    report.wall_s = time.time() - started
    return report
