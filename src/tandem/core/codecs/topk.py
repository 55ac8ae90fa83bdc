"""``topk``: keep only the largest-magnitude entries of each float tensor (sparsified updates).

Per tensor, the ``k`` (or ``ceil(fraction * numel)``) entries of largest |x| travel as flat indices
in the smallest unsigned integer type that can address the tensor (uint8/16/32/64) plus their
values (float32, or float16 with its rounding bound); decode returns a dense tensor with zeros
elsewhere. Typical use: device -> cloud update compression (Aji & Heafield 2017; Lin et al. 2018).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from tandem.core.codecs.base import Codec, Spec, as_numpy, register_codec
from tandem.core.codecs.floats import FP16_MAX
from tandem.core.errors import ConfigError, PayloadError

_VALUE_DTYPES = {"fp32": np.float32, "fp16": np.float16}


def index_dtype(numel: int) -> np.dtype:
    """The smallest unsigned dtype that holds every flat index of a ``numel``-element tensor."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if numel - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def topk_indices(x: torch.Tensor, k: int) -> torch.Tensor:
    """Flat indices (ascending, int64) of the ``k`` largest-magnitude entries of ``x``. Pure."""
    mags = np.abs(as_numpy(x).reshape(-1))
    k = min(int(k), mags.size)
    if k == 0:
        return torch.zeros(0, dtype=torch.int64)
    if k == mags.size:
        return torch.arange(k, dtype=torch.int64)
    top = np.argpartition(mags, mags.size - k)[mags.size - k :]
    return torch.from_numpy(np.sort(top).astype(np.int64))


@register_codec
class TopKCodec(Codec):
    """Sparsify each float tensor to its top-``k`` (or top-``fraction``) entries by magnitude.

    Give exactly one of ``k`` (entries per tensor, capped at its size) or ``fraction`` in (0, 1]
    (at least one entry per non-empty tensor). ``values`` is ``"fp32"`` (kept entries exact) or
    ``"fp16"`` (kept entries within the fp16 bound).
    """

    name = "topk"
    supports_nonfinite = False

    def __init__(
        self, *, k: int | None = None, fraction: float | None = None, values: str = "fp32", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if (k is None) == (fraction is None):
            raise ConfigError("topk: give exactly one of k or fraction")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ConfigError(f"topk: k must be a positive int, got {k!r}")
        real = isinstance(fraction, int | float) and not isinstance(fraction, bool)
        if fraction is not None and not (real and 0.0 < fraction <= 1.0):
            raise ConfigError(f"topk: fraction must be in (0, 1], got {fraction!r}")
        if values not in _VALUE_DTYPES:
            raise ConfigError(f"topk: values must be one of {sorted(_VALUE_DTYPES)}, got {values!r}")
        self.k, self.fraction, self.values = k, None if fraction is None else float(fraction), values

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "fraction": self.fraction, "values": self.values}

    def kept(self, numel: int) -> int:
        """How many entries a ``numel``-element tensor keeps."""
        if numel == 0:
            return 0
        if self.k is not None:
            return min(self.k, numel)
        assert self.fraction is not None  # __init__ sets exactly one of k and fraction
        return min(numel, max(1, math.ceil(self.fraction * numel)))

    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        numel = tensor.numel()
        idx = topk_indices(tensor, self.kept(numel))
        vals = as_numpy(tensor).reshape(-1)[idx.numpy()].astype(np.float64)
        if self.values == "fp16" and vals.size and np.abs(vals).max() > FP16_MAX:
            raise PayloadError(f"tensor {name!r}: kept values exceed the fp16 range; use values='fp32'")
        body = idx.numpy().astype(index_dtype(numel)).tobytes() + vals.astype(_VALUE_DTYPES[self.values]).tobytes()
        return {"enc": self.name, "k": int(idx.numel())}, body

    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        numel = int(np.prod(shape, dtype=np.int64))
        k = spec.get("k")
        idt, vdt = index_dtype(numel), np.dtype(_VALUE_DTYPES[self.values])
        if type(k) is not int or not 0 <= k <= numel or len(buf) != k * (idt.itemsize + vdt.itemsize):
            raise PayloadError(
                f"tensor {name!r}: topk entry k={k!r} does not fit shape {shape} and {len(buf)} body bytes"
            )
        arr = np.frombuffer(buf, dtype=np.uint8)
        idx = arr[: k * idt.itemsize].view(idt).astype(np.int64)
        vals = arr[k * idt.itemsize :].view(vdt)
        if k and (idx[-1] >= numel or np.any(np.diff(idx) <= 0)):
            raise PayloadError(f"tensor {name!r}: topk indices are not strictly increasing within 0..{numel - 1}")
        dense = torch.zeros(numel, dtype=dtype)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN from a tampered body is reported by the envelope
            dense[torch.from_numpy(idx)] = torch.from_numpy(vals.astype(np.float64)).to(dtype)
        return dense.reshape(shape)
