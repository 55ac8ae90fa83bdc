"""Small hand-made results of every kind the report draws (no simulation runs in these tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tandem.report.results import RunResult, StageRecord, write_result


def demo_result() -> RunResult:
    """A demo-shaped run: cloud stages, a delivery, FedAvg rounds with bytes, hr@10 per round."""
    stages = [
        StageRecord("cloud: train large", "cloud", {"hr@10": 0.3652, "params": 81649}, cloud_flops=2.0e10),
        StageRecord("cloud->device: int8 delivery", "cloud->device", {"hr@10": 0.2219, "payload_bytes": 17122},
                    bytes_down=5_136_600, latency_p50_s=0.0534, latency_p95_s=0.1992, cloud_requests=300),
    ]
    rounds: list[dict[str, Any]] = [{"round": 0, "hr@10": 0.2219}]
    for r, hr in enumerate([0.2241, 0.2244, 0.2274], start=1):
        stages.append(StageRecord(f"device->cloud: FedAvg round {r}", "device->cloud", {"hr@10": hr},
                                  bytes_down=1_136_400, bytes_up=1_136_400, latency_p50_s=0.13,
                                  latency_p95_s=1.03, cloud_flops=557820.0, cloud_requests=60))
        rounds.append({"round": r, "clients": 30.0, "hr@10": hr})
    return RunResult(kind="demo", config={"n_users": 300, "rounds": 3, "seed": 0}, stages=stages, rounds=rounds,
                     wall_clock_s=38.9)


def routing_result() -> RunResult:
    """A routing-benchmark-shaped run with explicit request-rate curves and per-tier rows."""
    curves = [
        {"name": "confidence", "x": "request_rate", "y": "hr@10",
         "points": [{"x": 0.0, "y": 0.22, "label": "never"}, {"x": 0.1, "y": 0.29, "label": "budget 10%"},
                    {"x": 0.3, "y": 0.34, "label": "budget 30%"}, {"x": 1.0, "y": 0.3652, "label": "always"}]},
        {"name": "random", "x": "request_rate", "y": "hr@10",
         "points": [{"x": 0.1, "y": 0.236, "label": "budget 10%"}, {"x": 0.3, "y": 0.265, "label": "budget 30%"}]},
    ]
    tiers = [
        {"tier": "flagship", "devices": 120, "hr@10": 0.31, "latency_p50_s": 0.021, "latency_p95_s": 0.05},
        {"tier": "iot", "devices": 60, "hr@10": 0.27, "latency_p50_s": 0.180, "latency_p95_s": 0.61},
    ]
    stages = [StageRecord("route: confidence @30%", "cloud-for-device", {"hr@10": 0.34, "request_rate": 0.3},
                          cloud_requests=5400, cloud_flops=1.2e9)]
    return RunResult(kind="routing", config={"policy": "confidence"}, stages=stages, curves=curves, tiers=tiers)


def federated_body(strategy: str, accuracies: list[float], bytes_per_round: int) -> dict[str, Any]:
    """The per-round metrics JSON ``tandem fl run`` writes (no schema_version)."""
    rounds: list[dict[str, Any]] = [{"round": 0, "accuracy": accuracies[0], "loss": 2.3}]
    for r, acc in enumerate(accuracies[1:], start=1):
        rounds.append({"round": r, "selected": [1, 2, 3, 4], "completed": [1, 2, 3],
                       "dropped": {"offline": [4], "deadline": []}, "aggregated": True, "n_examples": 90,
                       "bytes_down": bytes_per_round, "bytes_up": bytes_per_round, "sim_time_s": 0.5 * r,
                       "train_loss": 1.0 / r, "accuracy": acc, "loss": 2.3 - acc, "wall_s": 0.01})
    config = {"strategy": strategy, "rounds": len(accuracies) - 1, "clients_per_round": 4, "n_clients": 10,
              "codec": "fp32", "seed": 0}
    return {"config": config, "wall_clock_s": 1.5, "rounds": rounds, "config_file": f"{strategy}.yaml",
            "settings": {"strategy": {"name": strategy}, "local": {"lr": 0.05}}}


def write_result_files(folder: Path) -> list[Path]:
    """demo.json, routing.json, fedavg.json and scaffold.json written in ``folder``."""
    paths = [write_result(demo_result(), folder / "demo.json"), write_result(routing_result(), folder / "routing.json")]
    runs = (("fedavg", [0.10, 0.35, 0.52, 0.61], 40_000), ("scaffold", [0.10, 0.44, 0.63, 0.70], 80_000))
    for name, accs, size in runs:
        path = folder / f"{name}.json"
        path.write_text(json.dumps(federated_body(name, accs, size)))
        paths.append(path)
    return paths


@pytest.fixture
def result_files(tmp_path: Path) -> list[Path]:
    """The four result files in a fresh folder."""
    return write_result_files(tmp_path)


@pytest.fixture(scope="session")
def rendered_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of the four result files, rendered once per session (matplotlib takes a second or two)."""
    from tandem.report.html import write_report

    folder = tmp_path_factory.mktemp("report")
    return write_report(write_result_files(folder), folder / "report.html", title="fixture report")
