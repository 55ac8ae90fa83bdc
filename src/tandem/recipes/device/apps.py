"""``tandem device --app module:object --clients 0,1``: real agents serving a user's ClientApp.

One :class:`~tandem.device.app_agent.AppAgent` per client, each in its own thread: enroll (or, with a state
folder, resume the identity kept there), then answer round plans until SIGTERM/SIGINT or ``duration`` runs
out. Every event is one line on stderr; a JSON summary goes to stdout at exit.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from typing import Any

from tandem.core.errors import ConfigError


def run_app_agents(
    server: str,
    app_spec: str,
    clients: list[int],
    *,
    enroll_key: str,
    app_args: dict[str, Any] | None = None,
    public_key: str | None = None,
    duration_s: float = 3600.0,
    retries: int = 6,
    state_dir: str | None = None,
) -> dict[str, Any]:
    """Run the agents until stopped; returns the summary (devices, rounds answered, errors)."""
    from tandem.device.app_agent import AppAgent
    from tandem.federated.app import load_app

    if not clients:
        raise ConfigError("--clients: give the client ids this process serves (e.g. --clients 0,1,2)")
    from tandem.recipes.device.fleet import wait_for_server

    app = load_app(app_spec, app_args)
    down = wait_for_server(server, min(duration_s, 120.0))
    if down is not None:
        return {"devices": {}, "errors": [down], "wall_s": 0.0}
    agents = [
        AppAgent(server, app, c, enroll_key=enroll_key, public_key=public_key, retries=retries, state_dir=state_dir)
        for c in clients
    ]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    errors: list[str] = []
    started = time.monotonic()

    def life(agent: AppAgent) -> None:
        try:
            agent.start()
            agent.serve(stop, duration_s=duration_s)
        except Exception as exc:  # one agent's failure is reported, not fatal to the others
            logging.getLogger("tandem.device.events").error("%s error: %s: %s", agent.who, type(exc).__name__, exc)
            errors.append(f"client {agent.client_id}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=life, args=(a,), daemon=True) for a in agents]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads) and not stop.is_set():
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    counts = sum((a.counts for a in agents), Counter[str]())
    return {
        "devices": {a.client_id: a.device_id for a in agents},
        "enrolled": counts["enrolled"],
        "resumed": counts["resumed"],
        "rounds_joined": counts["rounds_joined"],
        "updates_sent": counts["updates_sent"],
        "updates_refused": counts["updates_refused"],
        "rounds_answered": {a.client_id: a.rounds_done for a in agents},
        "errors": errors,
        "wall_s": round(time.monotonic() - started, 2),
    }
