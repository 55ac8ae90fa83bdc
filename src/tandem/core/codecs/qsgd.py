"""``qsgd``: stochastic quantization of Alistarh et al. (NeurIPS 2017) as a codec, for compressed uplinks.

Per bucket of ``bucket`` entries, one float32 norm and ``bits``-bit unsigned codes (8 bits: one per byte;
4 bits: two per byte). The maths is :func:`tandem.core.codecs.quantize.qsgd_quantize`; decoding checks
every length and code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tandem.core.codecs.base import Codec, Spec, as_numpy, register_codec
from tandem.core.codecs.quantize import (
    pack_nibbles,
    qsgd_dequantize,
    qsgd_quantize,
    symmetric_levels,
    unpack_nibbles,
)
from tandem.core.errors import ConfigError, PayloadError


@register_codec
class QSGDCodec(Codec):
    """``qsgd``: stochastic quantization to ``bits`` (8 or 4) per entry + one float32 norm per ``bucket`` entries."""

    name = "qsgd"
    supports_nonfinite = False

    def __init__(
        self, *, bits: int = 8, bucket: int = 512, norm: str = "max", seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if bits not in (4, 8) or not isinstance(bucket, int) or bucket < 1 or norm not in ("max", "l2"):
            raise ConfigError(
                f"qsgd: need bits in (4, 8), int bucket >= 1, norm 'max'|'l2'; got {bits}, {bucket}, {norm}"
            )
        self.bits, self.bucket, self.norm = bits, bucket, norm
        self.rng = np.random.default_rng(seed)

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits, "bucket": self.bucket, "norm": self.norm}

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        codes, norms = qsgd_quantize(as_numpy(tensor), self.bits, self.bucket, self.norm, self.rng)
        body = codes.tobytes() if self.bits == 8 else pack_nibbles(codes)
        return {"enc": self.name, "buckets": int(norms.size)}, norms.tobytes() + body

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        numel = int(np.prod(shape, dtype=np.int64))
        nb = -(-numel // self.bucket)
        code_bytes = numel if self.bits == 8 else (numel + 1) // 2
        if spec.get("buckets") != nb or len(buf) != 4 * nb + code_bytes:
            raise PayloadError(
                f"tensor {name!r}: qsgd entry for {shape} needs {nb} buckets, {4 * nb + code_bytes} bytes"
            )
        norms = np.frombuffer(buf[: 4 * nb], dtype=np.float32)
        raw = buf[4 * nb :]
        codes = np.frombuffer(raw, dtype=np.uint8) if self.bits == 8 else unpack_nibbles(raw, numel)
        if codes.size and codes.max() > 2 * symmetric_levels(self.bits):
            raise PayloadError(f"tensor {name!r}: qsgd code out of range")
        values = qsgd_dequantize(codes, norms, self.bits, self.bucket) if numel else np.zeros(0)
        return torch.from_numpy(values.reshape(shape)).to(dtype)
