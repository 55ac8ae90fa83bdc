"""Turn a federated simulation's per-round metrics JSON into a :class:`RunResult` for reports.

The simulation (:class:`tandem.sim.engine.FederatedSimulation`) writes ``{"config", "rounds"}`` (and
``tandem fl run`` adds ``wall_clock_s``, ``config_file`` and ``settings``). Each round record may hold
``selected``, ``completed``, ``dropped``, ``bytes_down``, ``bytes_up``, ``sim_time_s`` and metrics.
The result has one summary stage over all rounds: the final round's metrics, the bytes of every
round, the simulated round durations as latency, and model downloads + accepted uploads as requests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tandem.report.results import RunResult, StageRecord

#: Round-record keys that are bookkeeping, not metrics of the model.
ROUND_BOOKKEEPING = frozenset(
    {"round", "selected", "completed", "dropped", "aggregated", "n_examples", "bytes_down", "bytes_up",
     "sim_time_s", "wall_s", "clients"}
)


def from_federated_metrics(raw: dict[str, Any]) -> RunResult:
    """The :class:`RunResult` of a federated metrics body (it is not modified)."""
    config = dict(raw["config"])
    for extra in ("config_file", "settings"):
        if extra in raw:
            config[extra] = raw[extra]
    rounds = [dict(r) for r in raw["rounds"] if isinstance(r, dict)]
    stage = _summary_stage(config, rounds)
    return RunResult(
        kind="federated",
        config=config,
        stages=[stage] if stage is not None else [],
        rounds=rounds,
        wall_clock_s=float(raw.get("wall_clock_s") or 0.0),
        created_at="",
    )


def _summary_stage(config: dict[str, Any], rounds: list[dict[str, Any]]) -> StageRecord | None:
    trained = [r for r in rounds if r.get("round", 0) > 0]
    if not rounds:
        return None
    final = rounds[-1]
    metrics = {
        k: float(v) for k, v in final.items()
        if k not in ROUND_BOOKKEEPING and isinstance(v, int | float) and not isinstance(v, bool)
    }
    down = sum(int(r.get("bytes_down", 0)) for r in trained)
    up = sum(int(r.get("bytes_up", 0)) for r in trained)
    requests = sum(_downloads(r) + len(r.get("completed", [])) for r in trained)
    times = [0.0] + [float(r["sim_time_s"]) for r in trained if "sim_time_s" in r]
    durations = np.diff(times) if len(times) > 1 else np.zeros(0)
    notes = [f"{len(trained)} rounds; requests = model downloads + accepted uploads"]
    notes.append("latency = simulated round duration" if durations.size else "no device fleet: latency not simulated")
    return StageRecord(
        stage=f"device->cloud: {config.get('strategy', 'federated')} ({len(trained)} rounds)",
        direction="device->cloud",
        metrics=metrics,
        bytes_down=down,
        bytes_up=up,
        latency_p50_s=float(np.percentile(durations, 50)) if durations.size else 0.0,
        latency_p95_s=float(np.percentile(durations, 95)) if durations.size else 0.0,
        cloud_requests=requests,
        notes="; ".join(notes),
    )


def _downloads(record: dict[str, Any]) -> int:
    offline = record.get("dropped", {}).get("offline", []) if isinstance(record.get("dropped"), dict) else []
    return max(len(record.get("selected", [])) - len(offline), 0)
