"""The real system on one machine: a tandem server, ten device agents, two federated rounds.

Run: ``python examples/server/quickstart.py`` (about 20 s). It starts the server in this process on a free
loopback port (SQLite in a temporary folder), runs the agents in threads, opens two rounds through the
admin API and prints what happened. The same with two shells::

    TANDEM_ADMIN_TOKEN=secret tandem serve --db sqlite:///tandem.db --port 8000
    tandem device --server http://127.0.0.1:8000 --devices 10 --enroll-key secret --rounds 2
    curl -X POST -H 'Authorization: Bearer secret' -H 'Content-Type: application/json' \\
         -d '{"model_id": "small"}' http://127.0.0.1:8000/v1/admin/rounds   # once per round
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time

import httpx
import torch
import uvicorn

from tandem.recipes.device.fleet import run_fleet
from tandem.recipes.serve.demo import DemoTask
from tandem.server.app import create_app

ADMIN = "quickstart-admin"


def main() -> None:
    torch.set_num_threads(1)
    task = DemoTask()
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        app = create_app(f"sqlite:///{tmp}/tandem.db", admin_token=ADMIN, inference_model=task.large_model(),
                         inference_in_features=task.n_features)  # fmt: skip
        app.state.tandem.registry.register("small", task.small_model().state_dict(), task.small_spec())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        while not server.started:
            time.sleep(0.05)
        report: dict = {}
        fleet = threading.Thread(target=lambda: report.update(vars(run_fleet(url, 10, enroll_key=ADMIN, rounds=2))))
        fleet.start()
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
        while len(admin.get("/v1/admin/devices").json()) < 10:
            time.sleep(0.1)
        for rnd in (1, 2):
            admin.post("/v1/admin/rounds", json={"model_id": "small", "objective": {"lr": 0.1, "epochs": 2}})
            while admin.get(f"/v1/admin/rounds/{rnd}").json()["status"] != "closed":
                time.sleep(0.1)
            version = admin.get(f"/v1/admin/rounds/{rnd}").json()["result_version"]
            print(f"round {rnd}: closed, published version {version}")
        fleet.join()
        print(f"agents: {len(report['devices'])}, inference rows {report['inferred']} ({report['requested']} asked "
              f"the cloud, {report['correct']} correct), errors {report['errors']}")  # fmt: skip
        print([line for line in admin.get("/metrics").text.splitlines() if line.startswith("tandem_updates")])
        server.should_exit = True


if __name__ == "__main__":
    main()
