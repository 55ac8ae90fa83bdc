import numpy as np
import pytest
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.routing.split import LayerProfile, PowerModel, choose_partition, partition_costs, profile_stages
from tandem.routing.split_run import measure_partitions, run_split, split_cnn

# Two stages: 1 GFLOP then 3 GFLOP; 1 MB input, 0.25 MB between the stages, 1 kB output.
PROFILE = LayerProfile(("a", "b"), np.array([1e9, 3e9]), np.array([1_000_000, 250_000, 1_000]))


def test_partition_costs_by_hand() -> None:
    lat, energy = partition_costs(PROFILE, device_gflops=10.0, uplink_mbps=16.0, downlink_mbps=80.0, rtt_ms=50.0,
                                  cloud_gflops=1000.0, power=PowerModel(1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    # cloud only: 0.05 rtt + 0.5 s up + 4 ms cloud + 0.1 ms down; after a: 0.1 s + 0.05 + 0.125 + 3 ms + 0.1 ms
    expected = [0.05 + 0.5 + 0.004 + 0.0001, 0.1 + 0.05 + 0.125 + 0.003 + 0.0001, 0.4]
    np.testing.assert_allclose(lat[0], expected)
    np.testing.assert_allclose(energy[0], [0.0, 0.1, 0.4])  # only device compute draws power here
    assert choose_partition(lat).tolist() == [1]
    assert choose_partition(energy).tolist() == [0]


def test_different_devices_pick_different_partitions() -> None:
    lat, _ = partition_costs(PROFILE, [1000.0, 10.0, 1.0], [8.0, 16.0, 1000.0], 80.0, 50.0, cloud_gflops=1000.0)
    assert choose_partition(lat).tolist() == [2, 1, 0]
    with pytest.raises(ConfigError):
        partition_costs(PROFILE, 0.0, 8.0, 8.0, 10.0)
    with pytest.raises(ConfigError):
        choose_partition(np.zeros((2, 1)))
    with pytest.raises(ConfigError):
        LayerProfile(("a",), np.array([1.0, 2.0]), np.array([1, 2]))


def test_profile_counts_flops_and_real_bytes() -> None:
    stages = [nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)]
    prof = profile_stages(stages, torch.randn(1, 8))
    assert prof.flops.tolist() == [2 * 8 * 4, 0, 2 * 4 * 2]
    assert prof.tensor_bytes[1] == prof.tensor_bytes[2] < prof.tensor_bytes[0]


def test_split_runs_equal_the_unsplit_model_and_match_the_plan() -> None:
    stages = split_cnn(((4,), (8,)), stem_channels=4, n_classes=5)
    x = torch.randn(1, 3, 32, 32)
    check = measure_partitions(stages, x)
    assert np.all(check.max_abs_diff == 0.0)
    planned = profile_stages(stages, x)
    np.testing.assert_array_equal(check.measured.flops, planned.flops)
    assert np.all(np.abs(check.measured.tensor_bytes - planned.tensor_bytes) <= 32)  # only the header meta differs
    run = run_split(stages, x, 2)
    assert run.bytes_up == check.measured.tensor_bytes[2] and run.bytes_down > 0
    assert run_split(stages, x, len(stages)).bytes_up == 0
    for gflops, up in ((0.05, 0.5), (100.0, 1.0), (0.01, 1000.0)):
        lat_plan, _ = partition_costs(planned, gflops, up, 50.0, 20.0)
        lat_meas, _ = partition_costs(check.measured, gflops, up, 50.0, 20.0)
        assert choose_partition(lat_plan)[0] == choose_partition(lat_meas)[0]
    with pytest.raises(ConfigError):
        run_split(stages, x, 99)
