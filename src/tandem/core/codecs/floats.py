"""Float codecs: ``fp32`` (exact for every dtype up to 32 bits) and ``fp16`` (half the bytes).

Both keep a tensor's dtype on decode: an fp16-encoded float32 weight comes back as float32.
"""

from __future__ import annotations

import numpy as np
import torch

from tandem.core.codecs.base import Codec, Spec, as_numpy, register_codec, tensor_from_raw
from tandem.core.errors import PayloadError

FP16_MAX = 65504.0
FP16_UNIT_ROUNDOFF = 2.0**-11
"""Relative rounding error of float16 round-to-nearest for normal numbers."""
FP16_SUBNORMAL_HALF_SPACING = 2.0**-25
"""Absolute rounding error bound for float16 subnormals (half the spacing 2**-24)."""


def fp16_error_bound(x: torch.Tensor) -> torch.Tensor:
    """Per-element bound on |x - fp16(x)|: ``max(|x| * 2**-11, 2**-25)`` for |x| <= 65504."""
    return torch.clamp(x.abs().double() * FP16_UNIT_ROUNDOFF, min=FP16_SUBNORMAL_HALF_SPACING)


def _stored_as(name: str, tensor: torch.Tensor, target: type[np.floating], label: str) -> tuple[Spec, bytes]:
    """Cast ``tensor`` to ``target`` for the wire, refusing finite values that overflow it."""
    x = as_numpy(tensor)
    with np.errstate(over="ignore"):
        cast = x.astype(target)
    overflow = np.isfinite(x) & ~np.isfinite(cast)
    if overflow.any():
        worst = float(np.abs(x[overflow]).max())
        raise PayloadError(
            f"tensor {name!r} has values beyond the {label} range (max |x| = {worst:.6g}); "
            "use the fp32 or int8 codec"
        )
    return {"enc": label}, cast.tobytes()


def _from_stored(
    name: str, buf: bytes, stored: torch.dtype, shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    return tensor_from_raw(buf, stored, shape, where=f"tensor {name!r}: ").to(dtype)


@register_codec
class Fp32Codec(Codec):
    """Exact for float32/float16/bfloat16 (sent raw); float64 is narrowed to float32.

    The reference codec: bytes = 4 per float32 parameter, decoded bit-for-bit equal.
    """

    name = "fp32"

    def accepts(self, tensor: torch.Tensor) -> bool:
        return tensor.dtype == torch.float64

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        return _stored_as(name, tensor, np.float32, "fp32")

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        return _from_stored(name, buf, torch.float32, shape, dtype)


@register_codec
class Fp16Codec(Codec):
    """Floats as IEEE half precision: 2 bytes per element, dtype restored on decode.

    Error bound per element: ``|x - x_hat| <= max(|x| * 2**-11, 2**-25)`` (see
    :func:`fp16_error_bound`). Finite values beyond +-65504 would become Inf, so they are a
    :class:`PayloadError` at encode time rather than a silent corruption. float16 tensors travel raw.
    """

    name = "fp16"

    def accepts(self, tensor: torch.Tensor) -> bool:
        return tensor.is_floating_point() and tensor.dtype != torch.float16

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        return _stored_as(name, tensor, np.float16, "fp16")

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        return _from_stored(name, buf, torch.float16, shape, dtype)
