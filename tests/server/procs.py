"""Start a real ``tandem serve`` process on a free loopback port, and stop it (the integration tests' helper);
or serve an app built in the test with uvicorn in a thread (for a browser to open)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ADMIN = "e2e-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m tandem.cli serve`` on 127.0.0.1 with the demo task and an SQLite file under ``tmp``."""

    def __init__(self, db_url: str, port: int | None = None, log: Path | None = None, *args: str) -> None:
        self.db_url, self.port, self.args = db_url, port or free_port(), list(args)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = {**os.environ, "TANDEM_ADMIN_TOKEN": ADMIN}
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "tandem.cli", "serve", "--db", self.db_url, "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} (log: {self.log})")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health within {timeout}s")

    def kill9(self) -> None:
        """SIGKILL: no cleanup, no flush: what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def worker_pids(self) -> list[int]:
        """The worker processes of ``--workers N`` (uvicorn's spawned children; not its resource tracker)."""
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            return []
        children = psutil.Process(self.proc.pid).children()
        out = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(child.cmdline())
                if "spawn_main" in cmd and "resource_tracker" not in cmd:
                    out.append(child.pid)
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


@contextlib.contextmanager
def serve_in_thread(app: object, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > end or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
