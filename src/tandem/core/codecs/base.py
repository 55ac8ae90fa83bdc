"""The codec extension point: how one tensor of a state dict becomes wire bytes, and back.

A codec only knows how to turn *one* floating tensor into bytes plus a small JSON spec (and back).
Everything around it — tensor names, shapes, dtypes, framing, compression, checksums — is the
envelope's job (:mod:`tandem.core.envelope`), so a new codec is one small subclass::

    @register_codec
    class MyCodec(Codec):
        name = "mine"
        def encode_tensor(self, name, tensor): ...   # -> (spec, bytes)
        def decode_tensor(self, name, spec, buf, shape, dtype): ...

Non-float tensors (int64 step counters, bool masks) never reach ``encode_tensor``: the base class
sends them raw, so every float codec is lossless on them.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from tandem.core.errors import ConfigError, PayloadError

if sys.byteorder != "little":  # pragma: no cover - torch's platforms are all little-endian
    raise ImportError("tandem's wire format is little-endian and this host is big-endian")

StateDict = Mapping[str, torch.Tensor]
Spec = dict[str, Any]

COMPRESSIONS = ("zstd",)
"""Body compressions a codec may ask for (``None`` means none)."""

_DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
}


def dtype_name(dtype: torch.dtype) -> str:
    """The wire name of a torch dtype (``torch.float32`` -> ``"float32"``)."""
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: object, where: str = "") -> torch.dtype:
    """The torch dtype for a wire name; PayloadError for anything tandem does not carry."""
    if not isinstance(name, str) or name not in _DTYPES:
        raise PayloadError(f"{where}unsupported dtype {name!r}; tandem carries {sorted(_DTYPES)}")
    return _DTYPES[name]


def raw_bytes(tensor: torch.Tensor) -> bytes:
    """The tensor's elements in row-major, little-endian machine order, exactly."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def tensor_from_raw(buf: bytes, dtype: torch.dtype, shape: tuple[int, ...], where: str = "") -> torch.Tensor:
    """Inverse of :func:`raw_bytes`; PayloadError if ``buf`` has the wrong length."""
    numel = int(np.prod(shape, dtype=np.int64))
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(buf) != numel * itemsize:
        raise PayloadError(f"{where}expected {numel * itemsize} raw bytes for {shape} {dtype}, got {len(buf)}")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(buf), dtype=torch.uint8).view(dtype).reshape(shape)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (bfloat16 widened to float32, which numpy lacks).

    Elementwise checks and casts run in numpy: single-threaded, they are as fast as torch's for
    payload-sized tensors and do not stall when torch's thread pool competes for busy cores.
    """
    t = tensor.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def nonfinite_summary(tensor: torch.Tensor) -> str | None:
    """``None`` if every element is finite, else e.g. ``"3 NaN/Inf values (first at flat index 17)"``."""
    bad = ~np.isfinite(as_numpy(tensor).reshape(-1))
    count = int(bad.sum())
    if count == 0:
        return None
    return f"{count} NaN/Inf values (first at flat index {int(np.argmax(bad))})"


class Codec(ABC):
    """Turns the floating tensors of a state dict into bytes and back.

    Keyword arguments shared by every codec:

    * ``compress``: ``"zstd"`` or ``None``; the envelope compresses the whole body with it.
    * ``level``: the zstd level (1 fast .. 19 small).
    * ``allow_nonfinite``: if ``False`` (default), NaN/Inf in a tensor to encode is a
      :class:`PayloadError` naming the tensor, and NaN/Inf decoded from a payload is one too.
    """

    name: ClassVar[str]
    supports_nonfinite: ClassVar[bool] = True
    """False for codecs that cannot represent NaN/Inf at all (quantizers, top-k)."""

    def __init__(self, *, compress: str | None = None, level: int = 3, allow_nonfinite: bool = False) -> None:
        if compress is not None and compress not in COMPRESSIONS:
            raise ConfigError(f"{self.name}: compress must be one of {COMPRESSIONS} or None, got {compress!r}")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
            raise ConfigError(f"{self.name}: zstd level must be an int in 1..22, got {level!r}")
        self.compress = compress
        self.level = level
        self.allow_nonfinite = bool(allow_nonfinite)

    def params(self) -> dict[str, Any]:
        """Codec-specific constructor arguments, JSON-able; recorded in the envelope header."""
        return {}

    def __repr__(self) -> str:
        args = {**self.params(), "compress": self.compress}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"

    # -- the two hooks a codec implements -------------------------------------------------------
    @abstractmethod
    def encode_tensor(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        """Encode one floating tensor; return a JSON-able spec (at least ``{"enc": ...}``) and bytes."""

    @abstractmethod
    def decode_tensor(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        """Inverse of :meth:`encode_tensor`; must validate ``buf`` and raise PayloadError naming ``name``."""

    # -- dispatch used by the envelope -----------------------------------------------------------
    def accepts(self, tensor: torch.Tensor) -> bool:
        """Whether ``encode_tensor`` handles this tensor; the rest travel raw. Default: floats."""
        return tensor.is_floating_point()

    def encode_entry(self, name: str, tensor: torch.Tensor) -> tuple[Spec, bytes]:
        """Check one tensor, then encode it with this codec or raw."""
        if tensor.is_floating_point() and not (self.allow_nonfinite and self.supports_nonfinite):
            bad = nonfinite_summary(tensor)
            if bad is not None:
                why = "" if self.supports_nonfinite else f" ({self.name} cannot represent them)"
                raise PayloadError(f"tensor {name!r} has {bad}{why}; refusing to encode")
        if self.accepts(tensor):
            return self.encode_tensor(name, tensor.detach().cpu())
        return {"enc": "raw"}, raw_bytes(tensor)

    def decode_entry(
        self, name: str, spec: Spec, buf: bytes, shape: tuple[int, ...], dtype: torch.dtype
    ) -> torch.Tensor:
        """Inverse of :meth:`encode_entry`."""
        enc = spec.get("enc")
        if enc == "raw":
            return tensor_from_raw(buf, dtype, shape, where=f"tensor {name!r}: ")
        if enc != self.name:
            raise PayloadError(f"tensor {name!r}: encoding {enc!r} is not 'raw' or {self.name!r}")
        return self.decode_tensor(name, spec, buf, shape, dtype)

    # -- whole state dicts -----------------------------------------------------------------------
    def encode(self, state: StateDict, meta: Mapping[str, Any] | None = None) -> bytes:
        """A complete, self-describing envelope of ``state`` encoded with this codec."""
        from tandem.core.envelope import encode_state  # the envelope imports the registry

        return encode_state(state, codec=self, meta=meta)

    def decode(self, data: bytes) -> dict[str, torch.Tensor]:
        """Decode an envelope written by this codec (PayloadError if another codec wrote it)."""
        from tandem.core.envelope import decode_state, read_header

        written_by = read_header(data).codec
        if written_by != self.name:
            raise PayloadError(f"payload was encoded with codec {written_by!r}, not {self.name!r}")
        return decode_state(data)[0]


C = TypeVar("C", bound=type[Codec])
_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(cls: C) -> C:
    """Class decorator: make ``cls`` available to :func:`get_codec` under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"codec class {cls.__name__} needs a non-empty string `name`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ConfigError(f"codec name {name!r} is already registered by {_REGISTRY[name].__name__}")
    _REGISTRY[name] = cls
    return cls


def get_codec(name: str, **kwargs: Any) -> Codec:
    """A new codec instance by registered name; ConfigError lists the names if unknown."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown codec {name!r}; available: {available_codecs()}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:  # an unknown keyword argument
        raise ConfigError(f"codec {name!r}: {exc}") from None


def available_codecs() -> list[str]:
    """Registered codec names, sorted."""
    return sorted(_REGISTRY)
