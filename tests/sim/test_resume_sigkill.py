"""A run killed with SIGKILL in the middle of a round and resumed from its checkpoint ends exactly where an
uninterrupted run ends (parameters bit for bit, and the same history)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
ROUNDS, KILL_AT = 6, 3

SCRIPT = r'''
import os, signal, sys
import numpy as np, torch
from torch import nn
from tandem.data.clients import PartitionedData
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.sim import FederatedSimulation

strategy_name, mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rounds, kill_at = int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(1)
rng = np.random.default_rng(0)
x = rng.standard_normal((400, 8)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + 2 * (x[:, 2] > 0)
data = PartitionedData.from_arrays(x, y, 20, alpha=0.5, seed=1)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
objective = LocalObjective(lr=0.1, batch_size=8, control_variates=strategy_name == "scaffold")
extra = {"n_clients_total": 20} if strategy_name == "scaffold" else {}
calls = [0]

def evaluate(params):
    calls[0] += 1  # call 1 = round 0; call r + 1 = after round r's aggregation, before its checkpoint
    if mode == "kill" and calls[0] == kill_at + 2:
        os.kill(os.getpid(), signal.SIGKILL)  # dies in round kill_at + 1, its checkpoint not yet written
    return {"norm": float(sum(v.norm() for v in params.values()))}

sim = FederatedSimulation(
    model, data, get_strategy(strategy_name, objective=objective, **extra), rounds=rounds, clients_per_round=6,
    runtime="auto", evaluate=evaluate, dropout=0.2, seed=3, progress=False,
    checkpoint_dir=None if mode == "full" else ckpt,
)
result = sim.run(resume=mode == "resume")
history = [{k: v for k, v in r.items() if k != "wall_s"} for r in result.history]
torch.save({"params": result.params, "history": history}, out)
'''


def _run(tmp_path: Path, strategy: str, mode: str, out: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-c", SCRIPT, strategy, mode, str(tmp_path / "ckpt"), str(tmp_path / out),
           str(ROUNDS), str(KILL_AT)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)


@pytest.mark.parametrize("strategy", ["fedavg", "scaffold"])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path, strategy: str) -> None:
    killed = _run(tmp_path, strategy, "kill", "unused.pt")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    saved = torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)
    assert saved["round"] == KILL_AT  # the kill came mid-round KILL_AT + 1, after round KILL_AT's checkpoint
    resumed = _run(tmp_path, strategy, "resume", "resumed.pt")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    full = _run(tmp_path, strategy, "full", "full.pt")
    assert full.returncode == 0, full.stderr[-2000:]
    a = torch.load(tmp_path / "resumed.pt", weights_only=True)
    b = torch.load(tmp_path / "full.pt", weights_only=True)
    assert a["params"].keys() == b["params"].keys()
    for key in a["params"]:
        assert torch.equal(a["params"][key], b["params"][key]), key
    assert len(a["history"]) == ROUNDS + 1
    assert a["history"] == b["history"]
