"""Run many device agents in one process (threads), as ``tandem device --devices N`` does.

Each agent enrolls (its profile names a device tier drawn by :func:`~tandem.fleet.sample_fleet`, which the
server's dashboard groups by) or, with a state folder, resumes the identity it kept there; pulls and verifies
the model, runs collaborative inference on part of its own data (logging its request decisions), then checks
in (renewing its lease) and answers the federated rounds it is selected for, until it has answered ``rounds``
rounds and the last of them closed, or ``rounds`` rounds have closed on the server since it started (a round
need not select every device), or ``duration_s`` runs out, or it is stopped; then it pulls the newest model.
Agent ``i`` holds client ``offset + i`` of the demo task's population. Each event is one line
(:func:`event_lines` prints them).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
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
    events: Counter[str] = field(default_factory=Counter)
    versions: dict[int, int | None] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON summary ``tandem device`` prints at exit."""
        held = [v for v in self.versions.values() if v is not None]
        return {
            "devices": len(self.devices),
            "enrolled": self.events["enrolled"],
            "resumed": self.events["resumed"],
            "models_pulled": self.events["models"],
            "model_version": max(held) if held else None,
            "inferred": self.inferred,
            "requested_cloud": self.requested,
            "correct": self.correct,
            "rounds_joined": self.events["rounds_joined"],
            "updates_sent": self.events["updates_sent"],
            "updates_refused": self.events["updates_refused"],
            "rounds_answered": sum(len(r) for r in self.rounds.values()),
            "errors": self.errors[:10],
            "wall_s": round(self.wall_s, 2),
        }


def event_lines(level: int = logging.INFO) -> None:
    """Print the agents' event lines (and errors) on stderr, one per line with the time."""
    logger = logging.getLogger("tandem.device")
    if not any(getattr(h, "_tandem_events", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._tandem_events = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def wait_for_server(server_url: str, timeout_s: float, client: Any = None) -> str | None:
    """Wait until the server answers ``/health`` (any status: it is up); ``None`` when it does, else why not.
    A fleet started beside its server waits here instead of spending its retries while the server boots."""
    import httpx

    own = client is None
    http = httpx.Client(base_url=server_url, timeout=5.0) if own else client
    end, last, said = time.monotonic() + timeout_s, "", False
    try:
        while True:
            try:
                http.get("/health")
                return None
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= end:
                return f"server {server_url} did not answer within {timeout_s:g} s ({last})"
            if not said:
                logging.getLogger("tandem.device.events").info("waiting for the server at %s", server_url)
                said = True
            time.sleep(0.5)
    finally:
        if own:
            http.close()


def run_agent(
    agent: DeviceAgent,
    rounds: int,
    deadline: float,
    infer_rows: int,
    report: FleetReport,
    lock: threading.Lock,
    profile: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """One agent's life (errors are recorded in ``report``, not raised); it enrolls with ``profile`` (or
    resumes). ``rounds``: stop after answering that many, or once that many closed since it started (0: run
    until ``deadline`` or ``stop``)."""
    stop = stop or threading.Event()
    try:
        agent.start(profile or {"kind": "demo"})
        first = agent.checkin()["last_closed_round"] or 0  # rounds are counted from here
        agent.sync_model()
        assert agent.data is not None
        x, y = agent.data.X.numpy()[:infer_rows], agent.data.y.numpy()[:infer_rows]
        prediction = agent.predict(x)
        agent.report(prediction, y)
        with lock:
            report.devices.append(int(agent.device_id or 0))
            report.inferred += len(y)
            report.requested += int(prediction.requested.sum())
            report.correct += int((prediction.labels == y).sum())
        while not stop.is_set() and time.time() < deadline:
            closed = agent.checkin()["last_closed_round"] or 0
            answered = bool(rounds) and len(agent.rounds_done) >= rounds and closed >= max(agent.rounds_done)
            if rounds and (answered or closed - first >= rounds):
                break
            agent.sync_model()
            agent.train_round(wait_s=1.0)
        agent.sync_model()  # the model the last round published
    except Exception as exc:
        with lock:
            report.errors.append(f"{agent.name}: {type(exc).__name__}: {exc}")
        logging.getLogger("tandem.device.events").error("%s error: %s: %s", agent.who, type(exc).__name__, exc)
    finally:
        with lock:
            report.events.update(agent.counts)
            if agent.device_id is not None:
                report.rounds[agent.device_id] = list(agent.rounds_done)
                report.versions[agent.device_id] = agent.version


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
    state_dir: str | None = None,
    stop: threading.Event | None = None,
    **client_kwargs: Any,
) -> FleetReport:
    """Run ``n_devices`` agents against ``server_url`` until each is done (see the module docstring).

    Each agent asks the cloud when its small model's ``1 - top1 >= uncertainty`` (routing's ``confidence``).
    With ``state_dir``, agent ``i`` keeps its identity in ``state_dir/agent-<offset + i>.json`` and a rerun
    resumes it. Setting ``stop`` ends every agent after its current step.
    """
    task = task or DemoTask()
    population = task.clients()
    report, lock = FleetReport(), threading.Lock()
    started = time.time()
    down = wait_for_server(server_url, min(duration_s, 120.0), client_kwargs.get("client"))
    if down is not None:
        report.errors.append(down)
        report.wall_s = time.time() - started
        return report
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
                state_dir=state_dir,
                **client_kwargs,
            )
        )
    fleet = sample_fleet(offset + n_devices, seed=task.seed)  # the tier each agent reports at enrollment
    tiers = [fleet.tier_names[t] for t in fleet.tier[offset:]]
    with ThreadPoolExecutor(max_workers=n_devices) as pool:
        for agent, tier in zip(agents, tiers, strict=True):
            profile = {"kind": "demo", "tier": tier}
            pool.submit(run_agent, agent, rounds, started + duration_s, infer_rows, report, lock, profile, stop)
    report.wall_s = time.time() - started
    return report
