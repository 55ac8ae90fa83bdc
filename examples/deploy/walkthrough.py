"""Run a real fleet: one server, 20 device agents, 3 federated rounds that nobody opens by hand.

Run: ``python examples/deploy/walkthrough.py`` (about a minute on two cores). It runs the README's "Run a real
fleet" commands, each as its own process, in a temporary folder (``--dir`` keeps it), on a free loopback port:

    export TANDEM_ADMIN_TOKEN=secret TANDEM_ENROLL_KEY=fleet-key
    tandem serve --db sqlite:///fleet.db --round-min-live 20 --round-clients 16 --round-over-select 1.25 \\
                 --round-quorum 0.8 --round-limit 3 &
    tandem device --devices 20 --rounds 3 --state-dir fleet-state
    tandem round status

The server opens a round by itself once 20 devices are live, selects 20 (16 clients over-selected by 1.25),
closes each round when 80% of the selected answered, and stops after 3 rounds. While it runs, the live
dashboard is at ``http://127.0.0.1:<port>/dashboard#token=secret``; the script reads its data once.
Exits non-zero if fewer than 3 rounds closed with a new model version, or an agent failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ADMIN, ENROLL = "secret", "fleet-key"
ROUNDS, DEVICES = 3, 20


def tandem(*args: str) -> list[str]:
    """The ``tandem`` command of this Python (so the script works without the venv's bin on PATH)."""
    return [sys.executable, "-m", "tandem.cli", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_get(url: str, path: str) -> dict:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def walkthrough(folder: Path, timeout_s: float = 170.0) -> dict:
    """Run the commands in ``folder``; returns what happened (rounds, the agents' summary, the time taken)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TANDEM_ADMIN_TOKEN": ADMIN, "TANDEM_ENROLL_KEY": ENROLL}
    started = time.monotonic()
    serve_cmd = tandem(
        "serve", "--db", "sqlite:///fleet.db", "--port", str(port),
        "--round-min-live", str(DEVICES), "--round-clients", "16", "--round-over-select", "1.25",
        "--round-quorum", "0.8", "--round-limit", str(ROUNDS),
    )
    with open(folder / "serve.log", "wb") as serve_log:
        server = subprocess.Popen(serve_cmd, cwd=folder, env=env, stdout=serve_log, stderr=serve_log)
        try:
            device_cmd = tandem(
                "device", "--server", url, "--devices", str(DEVICES), "--rounds", str(ROUNDS),
                "--state-dir", "fleet-state", "--duration", str(timeout_s),
            )
            devices = subprocess.run(device_cmd, cwd=folder, env=env, capture_output=True, text=True,
                                     timeout=timeout_s + 30)
            (folder / "device.log").write_text(devices.stderr)
            fleet_done = time.monotonic() - started
            status = subprocess.run(tandem("round", "status", "--server", url), cwd=folder, env=env,
                                    capture_output=True, text=True, timeout=60)
            rounds = admin_get(url, f"/v1/admin/rounds?limit={ROUNDS + 2}")
            dashboard = admin_get(url, "/dashboard/data")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    try:
        summary = json.loads(devices.stdout)
    except json.JSONDecodeError:
        summary = {"errors": [f"tandem device printed no JSON summary (exit {devices.returncode})"]}
    return {
        "seconds": round(fleet_done, 1),
        "device_exit": devices.returncode,
        "summary": summary,
        "status": status.stdout + status.stderr,
        "rounds": rounds,
        "dashboard_devices": dashboard.get("devices"),
        "event_lines": len(devices.stderr.splitlines()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        result = walkthrough(args.dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = walkthrough(Path(tmp))
    print(result["status"], end="")
    print(json.dumps(result["summary"], indent=1))
    closed = [r for r in result["rounds"] if r["status"] == "closed" and r["result_version"] is not None]
    print(f"{len(closed)} rounds closed with a new model version, {DEVICES} devices, "
          f"{result['seconds']:.1f} s from 'tandem serve' to the agents' exit")
    ok = len(closed) >= ROUNDS and result["device_exit"] == 0 and not result["summary"].get("errors")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
