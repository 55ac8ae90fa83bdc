"""``int8``: per-channel affine 8-bit quantization, a quarter of fp32's bytes.

For a tensor with at least two dimensions, every output channel (slice along dim 0) gets its own
``scale`` and ``offset``; 0-D and 1-D tensors (biases, norms) get one pair for the whole tensor.
Codes are uint8 ``q`` in 0..255 and the decoded value is ``offset + scale * q``, where
``offset = min(x)`` and ``scale = (max(x) - min(x)) / 255`` over the channel. ``offset`` is a
real-valued zero point (the value code 0 stands for), which keeps the bound below tight without
widening the range to include 0:

    |x - x_hat| <= scale / 2   per element (plus float32 rounding of x_hat, <= 2**-24 |x_hat|)

A constant channel has scale 0 and is exact. Wire layout per tensor: ``scale`` (float32 x C),
``offset`` (float32 x C), codes (uint8 x numel).
"""

from __future__ import annotations

import numpy as np
import torch

from tandem.core.codecs.base import Codec, Spec, as_numpy, register_codec
from tandem.core.errors import PayloadError

LEVELS = 255


def _channels(shape: tuple[int, ...] | torch.Size) -> int:
    return int(shape[0]) if len(shape) >= 2 else 1


def quantize_affine(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize a finite float tensor per output channel: ``(codes uint8, scale f32 [C], offset f32 [C])``.

    Pure function; ``codes`` has ``x``'s shape. Rounding is to nearest, computed in float64 from the
    float32 ``scale``/``offset`` that travel, so the error bound holds for the values actually sent.
    """
    C = _channels(x.shape)
    if x.numel() == 0:
        empty = torch.zeros(C, dtype=torch.float32)
        return torch.zeros(x.shape, dtype=torch.uint8), empty, empty.clone()
    rows = as_numpy(x).reshape(C, -1).astype(np.float64)
    offset = rows.min(axis=1).astype(np.float32)
    scale = ((rows.max(axis=1) - offset) / LEVELS).astype(np.float32)
    safe = np.where(scale > 0, scale, 1).astype(np.float64)
    codes = np.clip(np.rint((rows - offset[:, None]) / safe[:, None]), 0, LEVELS).astype(np.uint8)
    return torch.from_numpy(codes.reshape(x.shape)), torch.from_numpy(scale), torch.from_numpy(offset)


def dequantize_affine(
    codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Inverse of :func:`quantize_affine`: ``offset + scale * codes`` per channel, cast to ``dtype``."""
    if codes.numel() == 0:
        return torch.empty(codes.shape, dtype=dtype)
    C = _channels(codes.shape)
    rows = codes.numpy().reshape(C, -1).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # a tampered scale may be NaN; the envelope reports it
        values = offset.numpy().astype(np.float64)[:, None] + scale.numpy().astype(np.float64)[:, None] * rows
    return torch.from_numpy(values.reshape(tuple(codes.shape))).to(dtype)


@register_codec
class Int8Codec(Codec):
    """Per-channel affine uint8 quantization; bound ``|err| <= scale/2`` per element (module docs)."""

    name = "int8"
    supports_nonfinite = False

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        codes, scale, offset = quantize_affine(tensor)
        body = scale.numpy().tobytes() + offset.numpy().tobytes() + codes.reshape(-1).numpy().tobytes()
        return {"enc": self.name, "channels": int(scale.numel())}, body

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        C = _channels(shape)
        numel = int(np.prod(shape, dtype=np.int64))
        if spec.get("channels") != C or len(buf) != 8 * C + numel:
            raise PayloadError(
                f"tensor {name!r}: int8 entry for shape {shape} needs {C} channels and {8 * C + numel} "
                f"bytes, header says {spec.get('channels')!r} channels, body has {len(buf)} bytes"
            )
        arr = np.frombuffer(buf, dtype=np.uint8)
        scale = torch.from_numpy(arr[: 4 * C].view(np.float32).copy())
        offset = torch.from_numpy(arr[4 * C : 8 * C].view(np.float32).copy())
        codes = torch.from_numpy(arr[8 * C :].copy()).reshape(shape)
        return dequantize_affine(codes, scale, offset, dtype)
