"""Secure aggregation: exact sums under dropout, masked inputs look uniform, Shamir by hand, FedAvg behind it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated import shamir
from tandem.federated.secagg import Ring, SecAggClient, decode_fixed, encode_fixed, prg
from tandem.federated.secagg_round import SecureAggregation, secure_sum
from tandem.federated.strategy import ClientResult, get_strategy


def _inputs(n, d=300, seed=0):
    rng = np.random.default_rng(seed)
    return {c: rng.normal(scale=3.0, size=d) for c in range(n)}


def _fixed_sum(inputs, ids):
    return decode_fixed(sum((encode_fixed(inputs[c]) for c in ids), np.zeros(len(inputs[0]), np.uint64)))


@pytest.mark.parametrize("drop_share", [0.0, 0.1, 0.3])
def test_sum_is_exact_with_dropout_after_masking(drop_share):
    inputs = _inputs(10)
    dropped = list(range(round(drop_share * 10)))
    run = secure_sum(inputs, dropped=dropped)
    survivors = [c for c in range(10) if c not in dropped]
    assert run.survivors == survivors
    assert np.array_equal(run.total, _fixed_sum(inputs, survivors))  # bit-exact in the ring
    assert np.abs(run.total - sum(inputs[c] for c in survivors)).max() < 10 * 2.0**-24


def test_too_many_dropouts_fail_clearly():
    with pytest.raises(ConfigError, match="below the threshold"):
        secure_sum(_inputs(6), dropped=[0, 1, 2], threshold=4)


def test_single_masked_input_is_indistinguishable_from_uniform():
    d = 40000
    x = np.full(d, 0.25)  # a very non-random input
    clients = {c: SecAggClient(c) for c in range(3)}
    keys = {c: cl.public_key for c, cl in clients.items()}
    for cl in clients.values():
        cl.share_keys(keys, 2)
    y = clients[0].masked_input(x)
    top = (y >> np.uint64(56)).astype(np.int64)  # top byte of each ring element: uniform on 0..255
    assert stats.chisquare(np.bincount(top, minlength=256)).pvalue > 1e-4
    u = y.astype(np.float64) / 2.0**64
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.03
    plain = encode_fixed(x)
    assert stats.chisquare(np.bincount((plain >> np.uint64(56)).astype(np.int64), minlength=256)).pvalue < 1e-10


def test_fixed_point_round_trip_and_overflow():
    x = np.array([-1.5, 0.0, 2.0**-20, 1000.25])
    assert np.array_equal(decode_fixed(encode_fixed(x)), x)
    with pytest.raises(PayloadError, match="overflows"):
        encode_fixed(np.array([2.0**40]))
    with pytest.raises(PayloadError, match="NaN"):
        encode_fixed(np.array([np.nan]))
    assert np.array_equal(prg(b"k" * 32, 5), prg(b"k" * 32, 5))
    assert not np.array_equal(prg(b"k" * 32, 5), prg(b"j" * 32, 5))


def test_shamir_by_hand_and_threshold():
    secret = 123456789
    shares = shamir.split(secret, 5, 3)
    assert shamir.combine(shares[:3], 3) == secret
    assert shamir.combine([shares[4], shares[1], shares[2]], 3) == secret
    # a degree-1 polynomial f(x) = 7 + 2x: shares (1, 9), (2, 11) -> f(0) = 7
    assert shamir.combine([(1, 9), (2, 11)], 2) == 7
    with pytest.raises(ConfigError, match="needed"):
        shamir.combine(shares[:2], 3)
    with pytest.raises(PayloadError, match="repeated"):
        shamir.combine([shares[0], shares[0]], 2)
    assert shamir.decode_share(shamir.encode_share(shares[0])) == shares[0]


def test_fedavg_behind_secure_aggregation_matches_plain_fedavg():
    params = {"w": torch.zeros(4), "b": torch.zeros(1)}
    rng = np.random.default_rng(1)
    results = [
        ClientResult(
            c, int(n), {"w": torch.tensor(rng.normal(size=4), dtype=torch.float32), "b": torch.tensor([float(c)])}
        )
        for c, n in enumerate([3, 5, 2, 7])
    ]
    plain = get_strategy("fedavg").aggregate(1, params, results)
    sa = SecureAggregation("fedavg")
    new = sa.aggregate(1, params, results)
    for k in params:
        assert torch.allclose(new[k], plain[k], atol=1e-6)
    assert sa.runs_[0]["bytes_up"]["masked_input"] == 4 * 8 * 6  # 4 clients x (5 params + weight) x 8 bytes
    with pytest.raises(ConfigError, match="2 or more"):
        sa.aggregate(2, params, results[:1])


def test_32_bit_ring_is_exact_and_half_the_masked_bytes():
    ring = Ring(32, 16)
    inputs = _inputs(8, d=200)
    run = secure_sum(inputs, dropped=[3], ring=ring)
    ref = ring.decode(sum((ring.encode(inputs[c]) for c in run.survivors), np.zeros(200, np.uint32)))
    assert np.array_equal(run.total, ref)
    assert run.bytes_up["masked_input"] == 7 * 200 * 4
    with pytest.raises(PayloadError, match="32-bit ring"):
        ring.encode(np.array([2.0**15]))
    with pytest.raises(ConfigError):
        Ring(16, 8)
