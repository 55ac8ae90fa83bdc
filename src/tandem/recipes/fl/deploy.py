"""``tandem fl run CONFIG --transport http``: the same rounds as the simulation, over HTTP, with real processes.

1. The resolved config is written to a private folder (every process reads the same one).
2. A real server starts on a free loopback port (``tandem serve``, SQLite in that folder, no demo task).
3. ``agents`` device-agent processes start (``tandem device --app tandem.recipes.fl.app:client_app``),
   the clients dealt among them round-robin; each agent enrolls as ``client-<id>``.
4. Once every client is enrolled, this process runs :class:`~tandem.sim.engine.FederatedSimulation` with
   the config's selection, strategy and evaluation over :class:`~tandem.transport.http.HttpTransport`:
   the one round loop sends plans to the agents' mailboxes and aggregates what they send back.
5. Agents and server are stopped (SIGTERM, then SIGKILL), whatever happened.
The result file has the same layout as the in-process run's.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tandem.core.errors import ConfigError, TransportError
from tandem.recipes.fl.build import build_simulation
from tandem.recipes.fl.config import FLConfig

log = logging.getLogger(__name__)
APP = "tandem.recipes.fl.app:client_app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Process:
    """A child process whose output goes to a log file, stopped politely then firmly."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name, self.log_path = name, log_path
        self.out = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.out, env=env)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise TransportError(f"{self.name} exited with code {self.proc.returncode}; its log ends:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


def _wait_health(url: str, server: _Process, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        server.check()
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TransportError(f"the server did not answer {url}/health within {timeout_s:.0f} s")


def _wait_enrolled(url: str, admin: str, n_clients: int, agents: list[_Process], timeout_s: float) -> dict[int, int]:
    """``{client id: device id}`` once every client's agent has enrolled."""
    end = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10) as api:
        while time.monotonic() < end:
            for agent in agents:
                agent.check()
            devices = api.get("/v1/admin/devices").json()
            found = {int(d["profile"]["client"]): int(d["id"]) for d in devices if "client" in d.get("profile", {})}
            if len(found) >= n_clients:
                return found
            time.sleep(0.2)
    raise TransportError(f"only {len(found)} of {n_clients} clients enrolled within {timeout_s:.0f} s")


def run_over_http(config: FLConfig, *, progress: bool = True, keep_dir: Path | None = None) -> Any:
    """Run ``config``'s rounds against a real server and agent processes; returns the FederatedResult."""
    from tandem.federated.rounds import RemoteDevices
    from tandem.transport.http import HttpTransport

    if config.transport != "http":
        raise ConfigError("run_over_http needs transport: http")
    admin, enroll = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    env = {**os.environ, "TANDEM_ADMIN_TOKEN": admin, "TANDEM_ENROLL_KEY": enroll}
    with ExitStack() as stack:
        folder = keep_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tandem-fl-http-")))
        folder.mkdir(parents=True, exist_ok=True)
        resolved = folder / "config.json"
        resolved.write_text(json.dumps(config.model_dump(mode="json", exclude_defaults=True)))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cli = [sys.executable, "-m", "tandem.cli"]
        server = _Process(
            "server",
            [*cli, "serve", "--db", f"sqlite:///{folder / 'server.db'}", "--port", str(port), "--no-demo"],
            folder / "server.log", env,
        )
        stack.callback(server.stop)
        _wait_health(url, server, 60.0)
        agents = []
        n_agents = min(config.agents, config.clients)
        for i in range(n_agents):
            clients = ",".join(str(c) for c in range(i, config.clients, n_agents))
            cmd = [*cli, "device", "--server", url, "--app", APP, "--app-args", json.dumps({"config": str(resolved)}),
                   "--clients", clients, "--duration", str(config.round_timeout_s * (config.rounds + 2) + 120)]
            agent = _Process(f"agent {i}", cmd, folder / f"agent-{i}.log", env)
            stack.callback(agent.stop)
            agents.append(agent)
        addresses = _wait_enrolled(url, admin, config.clients, agents, 120.0)
        log.info("%d clients enrolled on %s through %d agent processes", len(addresses), url, n_agents)
        transport = HttpTransport(url, admin_token=admin, wait_s=1.0)
        stack.callback(transport.close)
        sim = build_simulation(
            config, progress=progress, transport=transport, devices=RemoteDevices(wait_s=config.round_timeout_s),
            addresses=addresses,
        )
        return sim.run()
