"""Link: transfer time from real byte counts, and a ledger that adds up."""

import numpy as np
import pytest

from tandem.core import ConfigError, Link, encode_state, transfer_time_s
from tandem.fleet import sample_fleet


def test_transfer_time_matches_hand_computed_values():
    # 1 MB over 8 Mbit/s is exactly 1 s, plus one 50 ms round trip
    assert transfer_time_s(1_000_000, 8.0, 50.0) == pytest.approx(1.05, abs=1e-12)
    assert transfer_time_s(0, 1.0, 20.0) == pytest.approx(0.02)
    out = transfer_time_s(np.array([0, 125_000, 250_000]), np.array([1.0, 1.0, 2.0]), 0.0)
    np.testing.assert_allclose(out, [0.0, 1.0, 1.0])
    assert isinstance(transfer_time_s(10, 1.0, 1.0), float)


@pytest.mark.parametrize(
    ("n", "rate", "rtt"), [(-1, 1.0, 1.0), (1, 0.0, 1.0), (1, -2.0, 1.0), (1, np.nan, 1.0), (1, 1.0, -5.0)]
)
def test_transfer_time_rejects_impossible_inputs(n, rate, rtt):
    with pytest.raises(ConfigError):
        transfer_time_s(n, rate, rtt)


def test_link_charges_real_payload_lengths_per_device():
    link = Link(downlink_mbps=[8.0, 16.0, 1.0], uplink_mbps=[2.0, 4.0, 0.5], rtt_ms=[50.0, 20.0, 100.0])
    payload = encode_state({}, meta={"pad": "x" * 1000})
    n = len(payload)
    quote = link.time_down([0, 1], n)
    assert link.ledger.total_bytes_down == 0  # quoting charges nothing
    secs = link.charge_down(np.array([0, 1]), n)
    np.testing.assert_allclose(secs, quote)
    np.testing.assert_allclose(secs, [0.05 + n * 8 / 8e6, 0.02 + n * 8 / 16e6])
    up = link.charge_up(2, 125_000)
    assert float(up) == pytest.approx(0.1 + 2.0)
    led = link.ledger
    assert led.bytes_down.tolist() == [n, n, 0] and led.bytes_up.tolist() == [0, 0, 125_000]
    assert (led.total_messages_down, led.total_messages_up) == (2, 1)
    np.testing.assert_allclose(led.seconds_down, [secs[0], secs[1], 0.0])


def test_repeated_devices_are_charged_each_time_small_and_large_batches():
    for size in (10, 10_000):  # both accumulation paths
        link = Link(np.full(5, 10.0), np.full(5, 10.0), np.zeros(5))
        idx = np.arange(size) % 5
        link.charge_up(idx, np.arange(size))
        expected = np.bincount(idx, weights=np.arange(size)).astype(np.int64)
        assert link.ledger.bytes_up.tolist() == expected.tolist()
        assert link.ledger.messages_up.tolist() == [size // 5] * 5


def test_link_from_fleet_and_input_checks():
    fleet = sample_fleet(100, seed=3)
    link = Link.from_profiles(fleet)
    assert link.n_devices == 100
    t = link.time_down(np.arange(100), 10_000)
    expected = fleet.rtt_ms.astype(float) / 1e3 + 80_000 / (fleet.downlink_mbps.astype(float) * 1e6)
    np.testing.assert_allclose(t, expected)
    with pytest.raises(ConfigError, match=r"\[100\]"):
        link.charge_down([5, 100], 10)
    with pytest.raises(ConfigError, match="integers"):
        link.charge_down([0.5], 10)
    with pytest.raises(ConfigError, match="n_bytes"):
        link.charge_down([0], 10.5)
    with pytest.raises(ConfigError, match="n_bytes"):
        link.charge_down([0], -1)
    with pytest.raises(ConfigError):
        Link([1.0, 2.0], [1.0], [1.0, 1.0])
    assert link.ledger.total_bytes_down == 0
