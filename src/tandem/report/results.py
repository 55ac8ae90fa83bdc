"""The result JSON every long-running tandem command writes, so reports can compare runs.

Schema (``schema_version`` 1)::

    {"schema_version": 1, "kind": "demo" | "federated" | ..., "tandem_version": "0.1.0",
     "created_at": ISO-8601 UTC, "wall_clock_s": float, "config": {...},
     "stages": [StageRecord...], "rounds": [{"round": int, ...metrics}...]}

A ``StageRecord`` holds one step of a run on the four axes: quality ``metrics`` (plus ``extra`` facts
such as parameter counts), bytes on the wire
(down = cloud to device, up = device to cloud, counted from encoded payloads), simulated device
latency (p50/p95 seconds) and cloud cost (FLOPs and requests).

Optional fields (added within version 1; absent or empty in older files, which still read)::

    "curves": [{"name": "confidence policy",      # one series of a trade-off plot
                "x": "request_rate" | "bytes" | ...,  # what x measures (lower is better)
                "y": "hr@10",                     # the quality metric on y
                "y_higher_is_better": true,       # optional, default true (false for a loss)
                "points": [{"x": 0.1, "y": 0.31, "label": "budget 10%"}, ...]}]
    "tiers":  [{"tier": "flagship", "devices": 120, "hr@10": 0.25, "latency_p95_s": 0.08, ...}]

``curves`` holds quality-vs-cost sweeps a run measured (quality vs bytes per delivery codec,
quality vs cloud request rate per request policy); ``tiers`` holds one row of numbers per device
tier (see :func:`tandem.report.tiers.tier_rows`). ``tandem report`` draws both.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tandem import __version__
from tandem.core.errors import ConfigError, DataError

SCHEMA_VERSION = 1


@dataclass
class StageRecord:
    """One stage of a run measured on quality, bytes, latency and cloud cost.

    ``metrics`` holds quality only (HR@10, accuracy...), the numbers reports plot; ``extra`` holds
    other facts of the stage (parameter counts, payload sizes, clients) shown beside them.
    """

    stage: str
    direction: str
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    bytes_down: int = 0
    bytes_up: int = 0
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    cloud_flops: float = 0.0
    cloud_requests: int = 0
    notes: str = ""


@dataclass
class RunResult:
    """A whole run: its configuration, stages, per-round curves and wall-clock time."""

    kind: str
    config: dict[str, Any]
    stages: list[StageRecord] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    wall_clock_s: float = 0.0
    tandem_version: str = __version__
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION
    curves: list[dict[str, Any]] = field(default_factory=list)
    tiers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (empty optional ``curves``/``tiers`` are left out, as before they existed)."""
        body = asdict(self)
        for optional in ("curves", "tiers"):
            if not body[optional]:
                del body[optional]
        return body


def write_result(result: RunResult, path: str | Path) -> Path:
    """Write ``result`` as JSON atomically (temp file + rename): a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_result(path: str | Path) -> RunResult:
    """Read a result file, checking that it is JSON of a schema version this tandem understands."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
        found = raw.get("schema_version") if isinstance(raw, dict) else type(raw).__name__
        raise DataError(f"{path}: expected a tandem result with schema_version {SCHEMA_VERSION}, found {found!r}")
    try:
        stages = [StageRecord(**stage) for stage in raw.pop("stages", [])]
        return RunResult(stages=stages, **raw)
    except TypeError as exc:
        raise DataError(f"{path}: result fields do not match schema version {SCHEMA_VERSION}: {exc}") from None


def require_finite(values: dict[str, float], where: str) -> None:
    """Raise ``ConfigError`` naming the metric if any value is NaN or infinite (JSON cannot hold them)."""
    for name, value in values.items():
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{where}: metric {name!r} is {value}")
