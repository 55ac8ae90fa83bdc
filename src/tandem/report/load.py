"""Read the result files a report compares, checking everything it will draw, naming the file on error.

Two formats are understood:

* a tandem result (``schema_version`` 1, see :mod:`tandem.report.results`), from ``tandem demo`` and
  every command that calls ``write_result``;
* the per-round metrics JSON of a federated simulation (``tandem fl run`` output, or
  ``FederatedSimulation(metrics_path=...)``): ``{"config": {...}, "rounds": [...]}`` with no
  ``schema_version``. It becomes a ``federated`` result with one summary stage.

A file with another ``schema_version`` is refused, never guessed at.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.core.errors import DataError, DataNotFoundError
from tandem.report.federated import from_federated_metrics
from tandem.report.results import SCHEMA_VERSION, RunResult, read_result


@dataclass
class LoadedRun:
    """One result file ready to report: a short unique ``label``, where it came from, and the result."""

    label: str
    path: Path
    result: RunResult


def load_runs(paths: Sequence[str | Path]) -> list[LoadedRun]:
    """Load and check every file (all of them, before anything is drawn); labels are file stems, made unique."""
    if not paths:
        raise DataError("no result files given")
    results = [(Path(p), load_result(p)) for p in paths]
    stems = Counter(path.stem for path, _ in results)
    labels: list[str] = []
    for path, _ in results:
        base = path.stem if stems[path.stem] == 1 else f"{path.parent.name}/{path.stem}"
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base} ({n})"
        labels.append(label)
    return [LoadedRun(label, path, result) for label, (path, result) in zip(labels, results, strict=True)]


def load_result(path: str | Path) -> RunResult:
    """One file as a :class:`RunResult`; ``DataError``/``DataNotFoundError`` name the file and the field."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such result file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a result JSON file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (expected result JSON)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if isinstance(raw, dict) and "schema_version" not in raw and _is_federated_metrics(raw):
        try:
            result = from_federated_metrics(raw)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise DataError(f"{path}: federated metrics file has a malformed round record: {exc}") from None
    else:
        result = read_result(path)
    check_result(result, str(path))
    return result


def _is_federated_metrics(raw: dict[str, Any]) -> bool:
    return isinstance(raw.get("rounds"), list) and isinstance(raw.get("config"), dict) and "stages" not in raw


def check_result(result: RunResult, where: str) -> None:
    """Raise ``DataError`` at the first field the report cannot draw (wrong type, non-numeric metric)."""
    if not isinstance(result.config, dict):
        raise DataError(f"{where}: config must be an object, got {type(result.config).__name__}")
    _list_of_dicts(result.rounds, f"{where}: rounds")
    for i, stage in enumerate(result.stages):
        at = f"{where}: stages[{i}]"
        if not isinstance(stage.metrics, dict):
            raise DataError(f"{at}.metrics must be an object")
        for name, value in stage.metrics.items():
            _number(value, f"{at}.metrics[{name!r}]")
        for name in ("bytes_down", "bytes_up", "latency_p50_s", "latency_p95_s", "cloud_flops", "cloud_requests"):
            _number(getattr(stage, name), f"{at}.{name}")
    _list_of_dicts(result.curves, f"{where}: curves")
    for i, curve in enumerate(result.curves):
        at = f"{where}: curves[{i}]"
        for key in ("x", "y"):
            if not isinstance(curve.get(key), str):
                raise DataError(f"{at}.{key} must name what the axis measures (a string)")
        _list_of_dicts(curve.get("points"), f"{at}.points")
        for j, point in enumerate(curve["points"]):
            _number(point.get("x"), f"{at}.points[{j}].x")
            _number(point.get("y"), f"{at}.points[{j}].y")
    _list_of_dicts(result.tiers, f"{where}: tiers")
    for i, row in enumerate(result.tiers):
        if not isinstance(row.get("tier"), str):
            raise DataError(f"{where}: tiers[{i}].tier must be the tier's name (a string)")


def _list_of_dicts(value: Any, at: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DataError(f"{at} must be a list of objects")


def _number(value: Any, at: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{at} is {value!r}, expected a number")


__all__ = ["SCHEMA_VERSION", "LoadedRun", "check_result", "load_result", "load_runs"]
