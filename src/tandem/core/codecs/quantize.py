"""The quantization maths of tandem, in one place: pure functions from floats to integer codes and back.

Every quantizer in the project calls these; codecs (``int8``, ``qsgd``, ``sparseq``), int8 model delivery
(:mod:`tandem.delivery.quantize`) and pruned-model packing (:mod:`tandem.delivery.prune`) only choose what to
quantize and how to lay the codes out on the wire. fp16 narrowing lives beside its codec
(:mod:`tandem.core.codecs.floats`), since it is a cast rather than a code book.

* **Affine int8** (:func:`quantize_int8` / :func:`dequantize_int8`): uint8 codes ``q`` in 0..255 per channel
  (one channel per index of ``axis``, or one for the whole tensor), decoded as ``offset + scale * q`` with
  ``offset = min(x)`` and ``scale = (max(x) - min(x)) / 255``. Round to nearest, so
  ``|x - x_hat| <= scale / 2`` per entry (plus float32 rounding of ``x_hat``). ``offset`` is a real-valued
  zero point, which keeps the bound tight without widening the range to include 0 (Jacob et al., CVPR 2018,
  use an integer zero point instead).
* **Symmetric** (:func:`quantize_symmetric`): signed codes in ``-s..s`` with ``s = 2^(bits-1) - 1`` and one
  scale (the largest magnitude), rounded to nearest or stochastically.
* **QSGD** (:func:`qsgd_quantize` / :func:`qsgd_dequantize`): Alistarh et al., "QSGD: Communication-Efficient
  SGD via Gradient Quantization and Encoding", NeurIPS 2017; per bucket, ``x -> norm * sign(x) * l / s`` with
  ``l`` stochastically rounded (unbiased), codes offset by ``s`` so they are unsigned.
* :func:`stochastic_round` (floor plus a Bernoulli of the fraction: unbiased) and :func:`pack_nibbles` /
  :func:`unpack_nibbles` (two 4-bit codes per byte), shared by the two above.
"""

from __future__ import annotations

import numpy as np
import torch

from tandem.core.codecs.base import as_numpy
from tandem.core.errors import ConfigError

INT8_LEVELS = 255
"""Steps of the affine uint8 code book (codes 0..255)."""


def row_axis(shape: tuple[int, ...] | torch.Size) -> int | None:
    """The ``int8`` codec's channel convention: per output row (axis 0) for >= 2-D tensors, else one channel."""
    return 0 if len(shape) >= 2 else None


def _as_rows(x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """``x`` as a 2-D ``[channels, rest]`` view with the channel axis first."""
    axis = None if axis is None else axis % max(x.dim(), 1)
    moved = x.reshape(1, -1) if axis is None else x.movedim(axis, 0)
    return moved.reshape(moved.shape[0], -1)


def _from_rows(rows: torch.Tensor, shape: tuple[int, ...], axis: int | None) -> torch.Tensor:
    """Inverse of :func:`_as_rows` for a tensor of ``shape``."""
    if axis is None:
        return rows.reshape(shape)
    axis %= len(shape)
    moved_shape = (shape[axis], *shape[:axis], *shape[axis + 1 :])
    return rows.reshape(moved_shape).movedim(0, axis).contiguous()


def quantize_int8(x: torch.Tensor, axis: int | None = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Affine uint8 codes of ``x``: ``(codes uint8 shaped like x, scale float32 [C], offset float32 [C])``.

    ``axis``: one ``(scale, offset)`` per index along it (``None``: one for the whole tensor). Rounding is to
    nearest, computed in float64 from the float32 ``scale``/``offset`` that travel, so the bound
    ``|x - x_hat| <= scale / 2`` holds for the values actually sent. A constant channel has scale 0 and is
    exact. ConfigError for a non-float or non-finite tensor (a quantizer cannot represent NaN/Inf).
    """
    if not x.is_floating_point() or not bool(torch.isfinite(x).all()):
        raise ConfigError("quantize_int8: need a finite floating tensor")
    if x.numel() == 0:
        empty = torch.zeros(1 if axis is None else int(x.shape[axis]), dtype=torch.float32)
        return torch.zeros(x.shape, dtype=torch.uint8), empty, empty.clone()
    rows = as_numpy(_as_rows(x.detach(), axis).contiguous()).astype(np.float64)
    offset = rows.min(axis=1).astype(np.float32)
    scale = ((rows.max(axis=1) - offset) / INT8_LEVELS).astype(np.float32)
    safe = np.where(scale > 0, scale, 1).astype(np.float64)
    codes = np.clip(np.rint((rows - offset[:, None]) / safe[:, None]), 0, INT8_LEVELS).astype(np.uint8)
    return _from_rows(torch.from_numpy(codes), tuple(x.shape), axis), torch.from_numpy(scale), torch.from_numpy(offset)


def dequantize_int8(
    codes: torch.Tensor,
    scale: torch.Tensor,
    offset: torch.Tensor,
    axis: int | None = 0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Inverse of :func:`quantize_int8`: ``offset + scale * codes`` per channel along ``axis``, as ``dtype``."""
    if codes.numel() == 0:
        return torch.empty(codes.shape, dtype=dtype)
    rows = _as_rows(codes, axis).contiguous().numpy().astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # a tampered scale may be NaN; the envelope reports it
        values = offset.numpy().astype(np.float64)[:, None] + scale.numpy().astype(np.float64)[:, None] * rows
    return _from_rows(torch.from_numpy(values), tuple(codes.shape), axis).to(dtype)


def stochastic_round(r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``floor(r)`` plus one with probability ``r - floor(r)``: unbiased, ``E[result] = r``. Pure given ``rng``."""
    lev = np.floor(r)
    lev += rng.random(r.shape) < (r - lev)
    return lev


def symmetric_levels(bits: int) -> int:
    """``s = 2^(bits-1) - 1``: the largest code magnitude of a signed ``bits``-bit quantizer."""
    return (1 << (bits - 1)) - 1


def quantize_symmetric(
    x: np.ndarray, bits: int, rounding: str = "nearest", rng: np.random.Generator | None = None
) -> tuple[np.ndarray, float]:
    """``(codes int8 in -s..s, scale)`` with ``s = 2^(bits-1) - 1`` and ``x ~ codes * scale / s``. Pure given rng.

    ``scale`` is the largest ``|x|`` (as float32, the width that travels); ``rounding`` is ``"nearest"``
    (error at most ``scale / (2 s)``) or ``"stochastic"`` (unbiased, error below ``scale / s``).
    """
    s = symmetric_levels(bits)
    x = np.asarray(x, dtype=np.float64)
    scale = float(np.float32(np.abs(x).max())) if x.size else 0.0
    if scale == 0.0:
        return np.zeros(x.size, dtype=np.int8), 0.0
    r = x / scale * s
    if rounding == "stochastic":
        lev = stochastic_round(r, rng if rng is not None else np.random.default_rng())
    else:
        lev = np.rint(r)
    return np.clip(lev, -s, s).astype(np.int8), scale


def dequantize_symmetric(codes: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """Inverse of :func:`quantize_symmetric` (float64)."""
    return np.asarray(codes, dtype=np.float64) * (scale / symmetric_levels(bits))


def qsgd_quantize(
    x: np.ndarray, bits: int = 8, bucket: int = 512, norm: str = "max", rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(codes uint8 in 0..2s, norms float32 per bucket)`` of flat ``x``; code ``s`` means 0. Pure given ``rng``.

    ``norm="l2"`` is the paper's; ``"max"`` (the bucket's largest ``|x|``, as in many implementations) has
    lower variance at 4 bits.
    """
    if bits not in (4, 8) or bucket < 1 or norm not in ("max", "l2"):
        raise ConfigError(
            f"qsgd: need bits in (4, 8), bucket >= 1, norm in ('max', 'l2'); got {bits}, {bucket}, {norm}"
        )
    rng = rng if rng is not None else np.random.default_rng()
    s = symmetric_levels(bits)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    nb = -(-x.size // bucket)
    padded = np.zeros(nb * bucket)
    padded[: x.size] = x
    rows = padded.reshape(nb, bucket)
    norms = (np.abs(rows).max(axis=1) if norm == "max" else np.linalg.norm(rows, axis=1)).astype(np.float32)
    safe = np.where(norms > 0, norms, 1.0).astype(np.float64)[:, None]
    lev = stochastic_round(np.abs(rows) / safe * s, rng)
    codes = (np.sign(rows) * np.minimum(lev, s) + s).astype(np.uint8)
    return codes.reshape(-1)[: x.size], norms


def qsgd_dequantize(codes: np.ndarray, norms: np.ndarray, bits: int = 8, bucket: int = 512) -> np.ndarray:
    """Inverse of :func:`qsgd_quantize` (float64, length ``codes.size``)."""
    s = symmetric_levels(bits)
    idx = np.arange(codes.size) // bucket
    return (codes.astype(np.float64) - s) / s * norms.astype(np.float64)[idx]


def pack_nibbles(codes: np.ndarray, pad: int = 0) -> bytes:
    """Unsigned 4-bit ``codes`` two per byte, high nibble first; an odd count is padded with ``pad``."""
    c = np.asarray(codes, dtype=np.uint8)
    if c.size % 2:
        c = np.append(c, np.uint8(pad))
    return ((c[0::2] << 4) | c[1::2]).astype(np.uint8).tobytes()


def unpack_nibbles(buf: bytes, n: int) -> np.ndarray:
    """The first ``n`` 4-bit codes of :func:`pack_nibbles` output (uint8)."""
    b = np.frombuffer(buf, dtype=np.uint8)
    return np.stack([b >> 4, b & 0x0F], axis=1).reshape(-1)[:n]
