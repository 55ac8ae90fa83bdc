"""``tandem round start|status|close`` against a real server over HTTP; mistakes are one line, nothing changes."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("fastapi")

from tests.server.conftest import ADMIN, make_app, register
from tests.server.procs import serve_in_thread
from typer.testing import CliRunner

from tandem.recipes.round.cli import round_app


@pytest.fixture
def server(tmp_path):
    app = make_app(tmp_path / "round.db")
    with serve_in_thread(app) as url:
        yield url


def _run(*args: str, token: str | None = ADMIN):
    env = {"TANDEM_ADMIN_TOKEN": token} if token is not None else {}
    return CliRunner().invoke(round_app, list(args), env=env)


def test_round_start_status_close(server) -> None:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        register(http)
        refused = _run("start", "--server", server)
        assert refused.exit_code == 2 and "no_live_devices" in refused.output and "Traceback" not in refused.output
        for i in range(5):
            assert http.post("/v1/devices", json={"name": f"d{i}"}).status_code == 200
        opened = _run("start", "--server", server, "--clients", "2", "--over-select", "2", "--quorum", "0.5",
                      "--objective", '{"lr": 0.1}')
        assert opened.exit_code == 0, opened.output
        assert "round 1 open: 4 devices selected, closes at 2 updates" in opened.output
        again = _run("start", "--server", server)
        assert again.exit_code == 2 and "round_open" in again.output

        status = _run("status", "--server", server)
        assert status.exit_code == 0, status.output
        assert "rounds open on admin calls" in status.output and "live devices 5" in status.output
        assert status.output.splitlines()[2].split()[:3] == ["1", "open", "admin"]

        closed = _run("close", "--server", server)
        assert closed.exit_code == 0 and "round 1 closed with 0 updates: no new version" in closed.output
        one = _run("status", "1", "--server", server, "--json")
        assert one.exit_code == 0 and '"closed_by": "admin"' in one.output
        waited = _run("status", "--server", server, "--wait-closed", "1", "--timeout", "5")
        assert waited.exit_code == 0 and " closed " in waited.output
        nothing = _run("close", "--server", server)
        assert nothing.exit_code == 2 and "no_open_round" in nothing.output


def test_round_commands_fail_in_one_line(server) -> None:
    no_token = _run("status", "--server", server, token=None)
    assert no_token.exit_code == 2 and "--admin-token" in no_token.output
    wrong = _run("status", "--server", server, token="wrong")
    assert wrong.exit_code == 2 and "not_admin" in wrong.output
    bad = _run("start", "--server", server, "--quorum", "2")
    assert bad.exit_code == 2 and "--quorum" in bad.output and "Traceback" not in bad.output
    down = _run("status", "--server", "http://127.0.0.1:9")
    assert down.exit_code == 2 and "ConnectError" in down.output and len(down.output.strip().splitlines()) == 1
