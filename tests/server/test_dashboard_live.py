"""The live dashboard of a real ``tandem serve`` process with twenty device agents, watched in headless Chromium.

Sixteen agents answer three rounds and four answer two, so the third round stays open with 16 of 20 reported
until its deadline: the page must show the fleet by tier, the model version the rounds published, the open
round with who is still missing, and traffic numbers that grow between two looks.

Set ``TANDEM_SCREENSHOTS=<folder>`` to keep a screenshot (``dashboard.png``) of the second look (this is
how ``docs/img/dashboard.png`` is made). Needs Debian's ``chromium``; skipped with that hint when absent.
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.report.browser import needs_chromium, run_chromium, screenshot
from tests.server.procs import ADMIN, ServerProcess

from tandem.fleet import sample_fleet
from tandem.recipes.device.fleet import FleetReport, run_fleet

pytestmark = [pytest.mark.integration, needs_chromium]
N_FAST, N_SLOW = 16, 4  # agents answering three rounds, and two
HEAD = {"Authorization": f"Bearer {ADMIN}"}
OBJECTIVE = {"lr": 0.1, "epochs": 1}


def _kpi(dom: str, name: str) -> str:
    match = re.search(rf'id="{name}"[^>]*>([^<]*)<', dom)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


def _bytes(text: str) -> float:
    value, unit = text.split()
    return float(value) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(unit)


def _look(url: str, profile: Path) -> str:
    return run_chromium(profile, f"{url}/dashboard#token={ADMIN}", "--virtual-time-budget=5000", "--dump-dom").stdout


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_dashboard_of_twenty_live_agents(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'live.db'}", log=tmp_path / "server.log").start()
    reports = [FleetReport(), FleetReport()]

    def fleet(i: int, n: int, offset: int, rounds: int) -> None:
        done = run_fleet(server.url, n, enroll_key=ADMIN, rounds=rounds, offset=offset, duration_s=150)
        reports[i].__dict__.update(done.__dict__)

    threads = [
        threading.Thread(target=fleet, args=(0, N_FAST, 0, 3)),
        threading.Thread(target=fleet, args=(1, N_SLOW, N_FAST, 2)),
    ]
    api = httpx.Client(base_url=server.url, headers=HEAD, timeout=30)
    try:
        for thread in threads:
            thread.start()
        _wait(lambda: len(api.get("/v1/admin/devices").json()) == N_FAST + N_SLOW, 90, "20 enrolled devices")
        first = _look(server.url, tmp_path / "p1")
        assert _kpi(first, "k-devices") == "20"
        for rnd in (1, 2):
            body = {"model_id": "small", "deadline_s": 90, "objective": OBJECTIVE}
            assert api.post("/v1/admin/rounds", json=body).json()["round"] == rnd
            _wait(lambda r=rnd: api.get(f"/v1/admin/rounds/{r}").json()["status"] == "closed", 120, f"round {rnd}")
        body = {"model_id": "small", "deadline_s": 120, "objective": OBJECTIVE}
        assert api.post("/v1/admin/rounds", json=body).json()["round"] == 3
        _wait(lambda: len(api.get("/v1/admin/rounds/3").json()["received"]) == N_FAST, 120, "16 updates in round 3")
        forged = {"Authorization": "Bearer t1.999.forged"}  # a refusal the page must list as a recent error
        assert httpx.post(f"{server.url}/v1/mailbox", content=b"x", headers=forged).status_code == 401
        second = _look(server.url, tmp_path / "p2")
        shots = os.environ.get("TANDEM_SCREENSHOTS")
        if shots:
            url = f"{server.url}/dashboard#token={ADMIN}"
            screenshot(tmp_path / "p3", url, Path(shots) / "dashboard.png", size=(1280, 1000), wait_ms=30_000)
        api.post("/v1/admin/rounds/3/close")
    finally:
        for thread in threads:
            thread.join(150)
        server.stop()
    assert reports[0].errors == [] and reports[1].errors == []

    text = html.unescape(re.sub(r"<[^>]+>", " ", second))
    tiers = sample_fleet(N_FAST + N_SLOW, seed=0).tier_counts()
    for tier, count in tiers.items():  # devices by tier, as the agents enrolled
        if count:
            assert re.search(rf"<td>{tier}</td><td class=\"num\">{count}</td>", second), tier
    assert (_kpi(second, "k-devices"), _kpi(second, "k-active")) == ("20", "20")
    assert N_FAST <= int(_kpi(second, "k-online")) <= N_FAST + N_SLOW  # heard from in the last 30 s
    assert '<td>small</td><td class="num">v3</td>' in second  # two rounds closed: v1 -> v3
    assert _kpi(second, "k-round") == "16 / 20" and "round 3 · small · fedavg · 16 of 20 devices reported" in text
    waiting = _kpi(second, "round-waiting")
    assert sorted(name.split()[1] for name in waiting.split(", ")) == [f"agent-{i}" for i in range(N_FAST, 20)]
    # traffic moved between the two looks: models and plans out, updates in, cloud inference rows answered
    assert _bytes(_kpi(second, "k-in")) > _bytes(_kpi(first, "k-in")) > 0
    assert _bytes(_kpi(second, "k-out")) > _bytes(_kpi(first, "k-out")) > 0
    assert float(_kpi(second, "k-req").replace(",", "")) > 0
    assert second.count("<polyline") >= 2  # request-rate and bytes sparklines drawn from several polls
    assert 'id="status" class="">updated ' in second
    assert "<td>unknown_device</td>" in second and "POST /v1/mailbox: unknown device" in text
    asked = reports[0].requested + reports[1].requested  # rows the agents' policy sent to the large model
    assert asked > 0 and int(_kpi(second, "k-load-total").replace(",", "")) == asked
