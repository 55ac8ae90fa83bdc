"""Headline numbers and trade-off series derived from results."""

from __future__ import annotations

import pytest

from tandem.report.federated import from_federated_metrics
from tandem.report.summary import (
    bytes_series,
    flatten_config,
    headline,
    higher_is_better,
    primary_metric,
    quality_metrics,
    tradeoff_groups,
)

from .conftest import demo_result, federated_body, routing_result


def test_quality_metrics_skip_sizes_and_bookkeeping() -> None:
    assert quality_metrics(demo_result()) == ["hr@10"]  # not params, payload_bytes or clients
    fed = from_federated_metrics(federated_body("fedavg", [0.1, 0.4], 10))
    assert quality_metrics(fed) == ["accuracy", "loss", "train_loss"]
    assert primary_metric(fed) == "accuracy" and primary_metric(demo_result()) == "hr@10"


def test_headline_on_the_four_axes() -> None:
    h = headline(demo_result())
    assert h.quality == {"hr@10": 0.2274}
    assert (h.bytes_down, h.bytes_up) == (5_136_600 + 3 * 1_136_400, 3 * 1_136_400)
    assert (h.latency_p50_s, h.latency_p95_s) == (0.13, 1.03)
    assert h.cloud_requests == 300 + 3 * 60 and h.rounds == 3
    assert h.cloud_flops == pytest.approx(2.0e10 + 3 * 557820.0)


def test_bytes_series_from_stages_is_cumulative_over_stages_that_moved_bytes() -> None:
    series = bytes_series("demo", demo_result(), "hr@10")
    assert series is not None
    delivery, per_round = 5_136_600, 2 * 1_136_400
    assert [p[:2] for p in series.points] == [
        (delivery, 0.2219), (delivery + per_round, 0.2241), (delivery + 2 * per_round, 0.2244),
        (delivery + 3 * per_round, 0.2274),
    ]
    assert series.points[0][2] == "cloud->device: int8 delivery"


def test_bytes_series_from_rounds_starts_at_zero_bytes() -> None:
    fed = from_federated_metrics(federated_body("fedavg", [0.1, 0.4, 0.6], 100))
    series = bytes_series("fedavg", fed, "accuracy")
    assert series is not None
    assert [p[:2] for p in series.points] == [(0.0, 0.1), (200.0, 0.4), (400.0, 0.6)]


def test_tradeoff_groups_by_axes() -> None:
    fed = from_federated_metrics(federated_body("fedavg", [0.1, 0.4], 10))
    groups = tradeoff_groups([("demo", demo_result()), ("routing", routing_result()), ("fedavg", fed)])
    assert set(groups) == {("bytes", "hr@10"), ("request_rate", "hr@10"), ("bytes", "accuracy")}
    names = [s.name for s in groups[("request_rate", "hr@10")]]
    assert names == ["routing", "routing: confidence", "routing: random"]  # the stage, then the two curves


def test_direction_and_flattening() -> None:
    assert not higher_is_better("train_loss") and not higher_is_better("error_rate") and higher_is_better("hr@10")
    assert flatten_config({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
