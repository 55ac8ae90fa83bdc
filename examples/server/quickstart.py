"""The real system on one machine: a tandem server, ten device agents, two federated rounds.

Run: ``python examples/server/quickstart.py`` (about 30 s). It does what a user does in three shells, with the
``tandem`` command: starts ``tandem serve`` on a free loopback port (SQLite in a temporary folder), starts
``tandem device`` with ten agents, opens two rounds through the admin API and prints what happened::

    TANDEM_ADMIN_TOKEN=secret tandem serve --db sqlite:///tandem.db --port 8000
    tandem device --server http://127.0.0.1:8000 --devices 10 --enroll-key secret --rounds 2
    curl -X POST -H 'Authorization: Bearer secret' -H 'Content-Type: application/json' \\
         -d '{"model_id": "small"}' http://127.0.0.1:8000/v1/admin/rounds   # once per round
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

ADMIN = "quickstart-admin"
TANDEM = [sys.executable, "-m", "tandem.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"tandem serve exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"tandem serve did not answer at {url} within {timeout_s:.0f} s")


def main() -> None:
    env = {**os.environ, "TANDEM_ADMIN_TOKEN": ADMIN}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([*TANDEM, "serve", "--db", f"sqlite:///{tmp}/tandem.db", "--port", str(port)],
                                  env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(url, server)
            agents = subprocess.Popen([*TANDEM, "device", "--server", url, "--devices", "10", "--enroll-key", ADMIN,
                                       "--rounds", "2"], env=env, stdout=subprocess.PIPE, text=True)
            admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
            while len(admin.get("/v1/admin/devices").json()) < 10:
                time.sleep(0.1)
            for rnd in (1, 2):
                admin.post("/v1/admin/rounds", json={"model_id": "small", "objective": {"lr": 0.1, "epochs": 2}})
                while admin.get(f"/v1/admin/rounds/{rnd}").json()["status"] != "closed":
                    time.sleep(0.1)
                version = admin.get(f"/v1/admin/rounds/{rnd}").json()["result_version"]
                print(f"round {rnd}: closed, published version {version}")
            report = json.loads(agents.communicate(timeout=300)[0])
            print(f"agents: {report['devices']}, inference rows {report['inferred']} ({report['requested_cloud']} "
                  f"asked the cloud, {report['correct']} correct), errors {report['errors']}")  # fmt: skip
            print([line for line in admin.get("/metrics").text.splitlines() if line.startswith("tandem_updates")])
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
