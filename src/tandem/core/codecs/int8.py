"""``int8``: per-channel affine 8-bit quantization, a quarter of fp32's bytes.

For a tensor with at least two dimensions, every output channel (slice along dim 0) gets its own
``scale`` and ``offset``; 0-D and 1-D tensors (biases, norms) get one pair for the whole tensor. The maths
(uint8 codes, ``offset + scale * q``, ``|x - x_hat| <= scale / 2`` per element) is
:func:`tandem.core.codecs.quantize.quantize_int8`; this module only lays it out on the wire, per tensor:
``scale`` (float32 x C), ``offset`` (float32 x C), codes (uint8 x numel).
"""

from __future__ import annotations

import numpy as np
import torch

from tandem.core.codecs.base import Codec, Spec, register_codec
from tandem.core.codecs.quantize import dequantize_int8, quantize_int8, row_axis
from tandem.core.errors import PayloadError


@register_codec
class Int8Codec(Codec):
    """Per-channel affine uint8 quantization; bound ``|err| <= scale/2`` per element (module docs)."""

    name = "int8"
    supports_nonfinite = False

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        codes, scale, offset = quantize_int8(tensor, row_axis(tensor.shape))
        body = scale.numpy().tobytes() + offset.numpy().tobytes() + codes.reshape(-1).numpy().tobytes()
        return {"enc": self.name, "channels": int(scale.numel())}, body

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        axis = row_axis(shape)
        C = 1 if axis is None else int(shape[axis])
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
        return dequantize_int8(codes, scale, offset, axis, dtype)
