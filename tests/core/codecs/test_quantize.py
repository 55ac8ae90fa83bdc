"""The quantization maths of :mod:`tandem.core.codecs.quantize`: round trips, error bounds, unbiasedness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.core.codecs.quantize import (
    dequantize_int8,
    dequantize_symmetric,
    pack_nibbles,
    qsgd_dequantize,
    qsgd_quantize,
    quantize_int8,
    quantize_symmetric,
    row_axis,
    stochastic_round,
    unpack_nibbles,
)
from tandem.core.errors import ConfigError


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_int8_round_trip_error_is_at_most_half_a_step_per_channel(axis):
    x = torch.randn(40, 24) * torch.linspace(0.1, 5, 24)
    codes, scale, offset = quantize_int8(x, axis)
    assert codes.dtype == torch.uint8 and codes.shape == x.shape
    assert scale.shape == ((40,) if axis == 0 else (24,) if axis in (1, -1) else (1,))
    back = dequantize_int8(codes, scale, offset, axis)
    step = scale.view(-1, 1) if axis == 0 else scale.view(1, -1) if axis in (1, -1) else scale
    assert back.shape == x.shape and torch.all((back - x).abs() <= step / 2 + 1e-6)


def test_int8_three_dim_middle_axis_and_edge_cases():
    x = torch.randn(3, 5, 7)
    codes, scale, offset = quantize_int8(x, 1)
    assert scale.shape == (5,)
    assert torch.allclose(dequantize_int8(codes, scale, offset, 1), x, atol=float(scale.max()) / 2 + 1e-6)
    const = torch.full((4, 3), 2.5)
    assert torch.equal(dequantize_int8(*quantize_int8(const, 0), 0), const)  # scale 0: exact
    empty = torch.zeros(0, 3)
    assert dequantize_int8(*quantize_int8(empty, 0), 0).shape == (0, 3)
    assert row_axis((4, 3)) == 0 and row_axis((3,)) is None and row_axis(()) is None


def test_int8_rejects_nan_and_integers():
    with pytest.raises(ConfigError):
        quantize_int8(torch.tensor([1.0, float("nan")]), None)
    with pytest.raises(ConfigError):
        quantize_int8(torch.arange(4), None)


@pytest.mark.parametrize("bits", [8, 4])
def test_symmetric_bounds_the_rounding_error(bits):
    x = np.random.default_rng(0).normal(size=101)
    codes, scale = quantize_symmetric(x, bits)
    s = (1 << (bits - 1)) - 1
    assert scale == pytest.approx(np.abs(x).max(), rel=1e-7) and np.abs(codes).max() == s
    assert np.abs(dequantize_symmetric(codes, scale, bits) - x).max() <= scale / (2 * s) + 1e-6
    zeros, zero_scale = quantize_symmetric(np.zeros(5), bits)
    assert zero_scale == 0.0 and not zeros.any()


def test_stochastic_rounding_is_unbiased_and_seeded():
    r = np.array([0.3, -0.55, 2.0, 7.01])
    rng = np.random.default_rng(0)
    mean = np.mean([stochastic_round(r, rng) for _ in range(4000)], 0)
    assert np.abs(mean - r).max() < 0.03
    x = np.array([0.3, -0.55, 1.0, 0.01])
    a = quantize_symmetric(x, 4, "stochastic", np.random.default_rng(3))[0]
    assert np.array_equal(a, quantize_symmetric(x, 4, "stochastic", np.random.default_rng(3))[0])
    mean = np.mean([c * s / 7 for c, s in (quantize_symmetric(x, 4, "stochastic", rng) for _ in range(4000))], 0)
    assert np.abs(mean - x).max() < 0.01


def test_qsgd_by_hand_deterministic_levels():
    # bits=4 -> s=7; bucket max-norm 1: 1.0 -> level 7, -1.0 -> -7, 0 -> 0 (no randomness at exact levels)
    codes, norms = qsgd_quantize(np.array([1.0, -1.0, 0.0, 3 / 7]), bits=4, bucket=4)
    assert norms.tolist() == [1.0]
    assert codes.tolist() == [14, 0, 7, 10]
    assert np.allclose(qsgd_dequantize(codes, norms, bits=4, bucket=4), [1.0, -1.0, 0.0, 3 / 7])


def test_qsgd_is_unbiased_and_rejects_bad_config():
    x = np.random.default_rng(0).normal(size=64)
    rng = np.random.default_rng(1)
    mean = np.mean([qsgd_dequantize(*qsgd_quantize(x, 4, 64, "l2", rng), bits=4, bucket=64) for _ in range(3000)], 0)
    assert np.abs(mean - x).max() < 0.1 * np.abs(x).max()
    with pytest.raises(ConfigError):
        qsgd_quantize(np.zeros(3), bits=3)


def test_nibbles_round_trip_odd_length_with_either_pad():
    c = np.array([0, 15, 7, 3, 9], dtype=np.uint8)
    assert unpack_nibbles(pack_nibbles(c), 5).tolist() == c.tolist()
    assert pack_nibbles(c, pad=7)[-1] == (9 << 4) | 7
    assert len(pack_nibbles(c)) == 3
