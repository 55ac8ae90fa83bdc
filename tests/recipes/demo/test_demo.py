import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.recipes.demo.run import DemoConfig, run_demo

TINY = DemoConfig(n_users=120, n_items=80, n_clusters=8, seq_len=30, large_dim=16, large_hidden=16, small_dim=4,
                  small_hidden=8, cloud_epochs=1, devices_per_round=20, rounds=2, local_epochs=1)


@pytest.fixture(scope="module")
def result():
    return run_demo(TINY, progress=False)


def test_every_stage_runs_in_order(result):
    names = [stage.stage for stage in result.stages]
    assert names[:5] == ["cloud: train large", "cloud: train small alone", "cloud: distill small",
                         "cloud->device: int8 delivery", "device: on-device inference"]
    assert names[5:] == ["device->cloud: FedAvg round 1", "device->cloud: FedAvg round 2"]
    assert [r["round"] for r in result.rounds] == [0, 1, 2]


def test_delivery_bytes_are_the_real_payload_times_the_fleet(result):
    delivery = result.stages[3]
    assert delivery.bytes_down == delivery.extra["payload_bytes"] * TINY.n_users
    assert delivery.extra["payload_bytes"] < delivery.extra["fp32_bytes"]
    assert 0 < delivery.latency_p50_s <= delivery.latency_p95_s


def test_federated_rounds_move_bytes_both_ways_and_quality_is_a_rate(result):
    for stage in result.stages[5:]:
        assert stage.bytes_up > 0 and stage.bytes_down > 0
        assert stage.cloud_requests == 2 * stage.extra["clients"]
        assert stage.latency_p95_s >= stage.latency_p50_s > 0
    for stage in result.stages:
        for name in ("hr@10", "ndcg@10"):
            if name in stage.metrics:
                assert 0.0 <= stage.metrics[name] <= 1.0


def test_cloud_cost_is_counted_for_cloud_stages_only(result):
    assert all(stage.cloud_flops > 0 for stage in result.stages[:3])
    assert result.stages[4].cloud_flops == 0 and result.stages[4].cloud_requests == 0


def test_same_seed_same_numbers(result):
    again = run_demo(TINY, progress=False)
    first = [s.metrics.get("hr@10") for s in result.stages]
    assert [s.metrics.get("hr@10") for s in again.stages] == first
    assert np.isfinite(result.wall_clock_s)


def test_impossible_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="devices_per_round"):
        DemoConfig(n_users=60, devices_per_round=100)
