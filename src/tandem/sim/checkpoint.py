"""Checkpoints and per-round metric files of a federated run, written atomically.

A checkpoint holds the global parameters, the strategy's, selector's and runtime's states, the history
and the simulated time, plus a fingerprint of the run it belongs to, so a resume into a different run
is refused with a message instead of silently mixing two runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from tandem.core.errors import ConfigError

CHECKPOINT_NAME = "checkpoint.pt"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_metrics(path: Path, config: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """The run's config and every round record so far, as JSON."""
    atomic_write(path, json.dumps({"config": config, "rounds": history}, indent=1).encode())


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` of ``state`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, fingerprint: dict[str, Any], rounds: int) -> dict[str, Any]:
    """The checkpoint at ``path`` if it belongs to the run with ``fingerprint`` and is not past ``rounds``."""
    state = torch.load(path, weights_only=True)
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {path} belongs to another run: it has {state.get('fingerprint')}, this run is {fingerprint}"
        )
    if state["round"] > rounds:
        raise ConfigError(f"checkpoint {path} is at round {state['round']}, past rounds={rounds}")
    return state
