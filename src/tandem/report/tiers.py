"""Per-device-tier breakdowns: fold per-device arrays into one row of numbers per tier.

A run that has per-device numbers (latency, bytes, hit rate) and the fleet's tier of every device
calls :func:`tier_rows` and stores the rows in :attr:`RunResult.tiers
<tandem.report.results.RunResult.tiers>`; ``tandem report`` then draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tandem.core.errors import ConfigError


def tier_rows(
    tier: ArrayLike,
    tier_names: Sequence[str],
    means: Mapping[str, ArrayLike] | None = None,
    percentiles: Mapping[str, ArrayLike] | None = None,
) -> list[dict[str, Any]]:
    """One row per tier that has devices: ``{"tier", "devices", <mean columns>, <percentile columns>}``.

    ``tier[i]`` indexes ``tier_names`` for device ``i``; every array in ``means`` (averaged per tier)
    and ``percentiles`` (median and 95th percentile per tier: ``x`` -> ``x_p50``, ``x_p95``; ``latency_s`` ->
    ``latency_p50_s``, ``latency_p95_s``) has one value per device. NaN entries
    (a device that did not take part) are ignored; a tier where all are NaN gets ``None``.
    """
    codes = np.asarray(tier)
    if codes.ndim != 1:
        raise ConfigError(f"tier_rows: tier must be 1-D, got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= len(tier_names)):
        raise ConfigError(f"tier_rows: tier codes must index tier_names ({len(tier_names)} names)")
    both = set(means or {}) & set(percentiles or {})
    if both:
        raise ConfigError(f"tier_rows: {sorted(both)} named in both means and percentiles")
    columns = {**_arrays(means, codes.size, "means"), **_arrays(percentiles, codes.size, "percentiles")}
    rows: list[dict[str, Any]] = []
    for code, name in enumerate(tier_names):
        members = codes == code
        if not members.any():
            continue
        row: dict[str, Any] = {"tier": str(name), "devices": int(members.sum())}
        for column, values in columns.items():
            picked = values[members]
            picked = picked[~np.isnan(picked)]
            if means is not None and column in means:
                row[column] = float(picked.mean()) if picked.size else None
            else:
                for q in (50, 95):
                    row[_percentile_name(column, q)] = float(np.percentile(picked, q)) if picked.size else None
        rows.append(row)
    return rows


def _percentile_name(column: str, q: int) -> str:
    """``latency_s`` -> ``latency_p95_s`` (the unit suffix stays last, as in ``StageRecord``); else ``x_p95``."""
    return f"{column[:-2]}_p{q}_s" if column.endswith("_s") else f"{column}_p{q}"


def _arrays(named: Mapping[str, ArrayLike] | None, n: int, where: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, values in (named or {}).items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,):
            raise ConfigError(f"tier_rows: {where}[{name!r}] has shape {array.shape}, expected ({n},)")
        out[name] = array
    return out
