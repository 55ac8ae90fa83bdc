"""README's "Run a real fleet": examples/deploy/walkthrough.py runs its commands end to end (serve, 20 devices,
3 rounds opened by the server's policy, round status), in the default suite so CI runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "walkthrough.py"


def test_the_walkthrough_completes_three_rounds_with_twenty_devices(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 rounds closed with a new model version, 20 devices" in done.stdout
    summary = json.loads(done.stdout[done.stdout.index("{"): done.stdout.rindex("}") + 1])
    assert summary["devices"] == 20 and summary["enrolled"] == 20 and summary["errors"] == []
    assert summary["updates_sent"] >= 3 * 16 and summary["model_version"] == 4
    events = (tmp_path / "device.log").read_text()
    for event in ("enrolled", "model pulled and verified", "inference batch", "round joined", "update sent"):
        assert f" {event}" in events, event
    assert len(list((tmp_path / "fleet-state").glob("agent-*.json"))) == 20
