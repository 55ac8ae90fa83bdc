"""tier_rows folds per-device arrays into per-tier rows."""

from __future__ import annotations

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.report.tiers import tier_rows


def test_means_and_percentiles_per_tier() -> None:
    tier = np.array([0, 0, 2, 2, 2])
    rows = tier_rows(
        tier, ("flagship", "mid", "iot"),
        means={"hr@10": [1.0, 0.0, 0.5, np.nan, 0.25]},
        percentiles={"latency_s": [0.1, 0.3, 1.0, 2.0, 3.0], "bytes": [10, 20, 30, 40, 50]},
    )
    assert [r["tier"] for r in rows] == ["flagship", "iot"]  # "mid" has no device
    flagship, iot = rows
    assert flagship["devices"] == 2 and iot["devices"] == 3
    assert flagship["hr@10"] == pytest.approx(0.5)
    assert iot["hr@10"] == pytest.approx(0.375)  # the NaN device is left out
    assert flagship["latency_p50_s"] == pytest.approx(0.2)
    assert iot["latency_p95_s"] == pytest.approx(2.9)
    assert iot["bytes_p50"] == pytest.approx(40)


def test_all_nan_tier_gets_none() -> None:
    rows = tier_rows([0, 1], ("a", "b"), means={"acc": [np.nan, 1.0]})
    assert rows[0]["acc"] is None and rows[1]["acc"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tier": [0, 3], "tier_names": ("a", "b")}, "must index tier_names"),
        ({"tier": [0, 1], "tier_names": ("a", "b"), "means": {"x": [1.0]}}, r"means\['x'\] has shape \(1,\)"),
        ({"tier": [0], "tier_names": ("a",), "means": {"x": [1]}, "percentiles": {"x": [1]}}, "both"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tier_rows(**kwargs)
