"""The federated benchmark suite runs end to end in its quick form and the runners agree on the metric."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "fl" / "run_all.py"
KEYS = {"name", "metric", "tandem_s", "plain_s", "flower_s", "flower_live", "speedup_vs_flower", "speedup_vs_plain",
        "peak_rss_mb"}


def test_quick_suite_json() -> None:
    proc = subprocess.run([sys.executable, str(SUITE), "--quick", "--json"], capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    names = [w["name"] for w in out["workloads"]]
    assert names == ["reference", "reference_large", "bank", "digits_cnn", "movielens"]
    for w in out["workloads"]:
        assert set(w) >= KEYS, w
        assert w["flower_live"] is False  # --quick never runs Flower live; a stored figure is marked as such
        if w.get("skipped"):
            continue
        assert w["tandem_s"] > 0 and w["plain_s"] > 0
        assert w["metric_within_tolerance"], w
        assert abs(w["sequential_metric"] - w["plain_metric"]) <= w["tolerance"] + 1e-9, w
        if w["speedup_vs_flower"] is not None:
            assert "flower_stored" in w  # never a silent division by a stored figure
