"""Post-training int8 quantization of a model for delivery: pure functions from a state dict to a packed one.

Every floating tensor with at least ``min_numel`` entries becomes uint8 codes plus a float32 ``scale`` and
``offset`` per channel (affine, round-to-nearest: :func:`tandem.core.codecs.quantize_int8`, error at most
``scale / 2`` per entry); small tensors (biases, LayerNorm) stay float32, where int8 would save little and
cost accuracy. The channel axis is chosen per tensor to keep the side information small: per output row
(axis 0) as usual for linear layers (Jacob et al., CVPR 2018), but per column for a tall embedding table
(``[n_items, 16]`` would otherwise spend 8 bytes of scale/offset on every 16-byte row), per tensor if both
are too costly. Two wire layouts: :func:`quantize_state` is self-describing (``name::q/scale/offset/axis`` entries),
:func:`pack_int8` is compact (three flat tensors; the device's own model supplies names and shapes), which is what
:func:`int8_payload` sends. Both travel through the ordinary envelope (uint8 travels raw), so bytes are real.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TypeVar

import torch
from torch import nn

from tandem.core.codecs import dequantize_int8, quantize_int8
from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError

SEP = "::"
"""Separator between a tensor's name and its part (``q``, ``scale``, ``offset``, ``axis``) in a packed dict."""
MAX_SIDE_FRACTION = 1 / 8
"""Largest share of scale/offset bytes (8 per channel) relative to the codes before a coarser axis is used."""

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def channel_axis(shape: tuple[int, ...] | torch.Size) -> int | None:
    """0 (per row), the last axis (per column) or None (per tensor): the first whose side bytes stay small."""
    numel = 1
    for size in shape:
        numel *= int(size)
    for axis in ((0, len(shape) - 1) if len(shape) >= 2 else ()):
        if 8 * int(shape[axis]) <= MAX_SIDE_FRACTION * numel:
            return axis
    return None


def quantize_state(state: Mapping[str, torch.Tensor], min_numel: int = 256) -> dict[str, torch.Tensor]:
    """Pack ``state``: large float tensors as ``name::q/scale/offset/axis``, everything else unchanged."""
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if SEP in name:
            raise ConfigError(f"quantize_state: tensor name {name!r} contains {SEP!r}")
        if not tensor.is_floating_point() or tensor.numel() < min_numel:
            packed[name] = tensor.detach().clone()
            continue
        axis = channel_axis(tensor.shape)
        codes, scale, offset = quantize_int8(tensor.float(), axis)
        packed.update({f"{name}{SEP}q": codes, f"{name}{SEP}scale": scale, f"{name}{SEP}offset": offset,
                       f"{name}{SEP}axis": torch.tensor(-1 if axis is None else axis, dtype=torch.int64)})
    return packed


def dequantize_state(packed: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float state dict from a packed one; a missing part is a :class:`PayloadError` naming the tensor."""
    state: dict[str, torch.Tensor] = {}
    for name, tensor in packed.items():
        if SEP not in name:
            state[name] = tensor
            continue
        base, part = name.rsplit(SEP, 1)
        if part != "q":
            continue
        try:
            scale, offset = packed[f"{base}{SEP}scale"], packed[f"{base}{SEP}offset"]
            axis = int(packed[f"{base}{SEP}axis"])
        except KeyError as exc:
            raise PayloadError(f"quantized tensor {base!r} lacks part {exc.args[0]!r}") from None
        state[base] = dequantize_int8(tensor, scale, offset, None if axis < 0 else axis)
    return state


def pack_int8(state: Mapping[str, torch.Tensor], min_numel: int = 256) -> dict[str, torch.Tensor]:
    """Pack ``state`` into three flat tensors for the wire: ``codes`` (uint8), ``qparams`` and ``floats``.

    Tensors are taken in ``state`` order; each large float tensor contributes its codes and its channels'
    ``(scale, offset)`` pairs, every other float tensor its values. Names, shapes and axes are not sent: the
    device rebuilds them from its own model (:func:`unpack_int8`), so the envelope header stays a few hundred
    bytes instead of one entry per tensor part, which matters for a model of a few tens of kilobytes.
    """
    codes, qparams, floats = [], [], []
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            raise ConfigError(f"pack_int8: tensor {name!r} is {tensor.dtype}; only float states are packed")
        if tensor.numel() < min_numel:
            floats.append(tensor.detach().float().reshape(-1))
            continue
        q, scale, offset = quantize_int8(tensor.float(), channel_axis(tensor.shape))
        codes.append(q.reshape(-1))
        qparams.append(torch.stack([scale, offset], 1).reshape(-1))
    cat = lambda parts, dtype: torch.cat(parts) if parts else torch.zeros(0, dtype=dtype)  # noqa: E731
    return {"codes": cat(codes, torch.uint8), "qparams": cat(qparams, torch.float32),
            "floats": cat(floats, torch.float32)}


def unpack_int8(packed: Mapping[str, torch.Tensor], template: Mapping[str, torch.Tensor],
                min_numel: int = 256) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_int8` given the device model's own state dict as ``template`` (names, shapes)."""
    try:
        codes, qparams, floats = packed["codes"], packed["qparams"].view(-1, 2), packed["floats"]
    except (KeyError, RuntimeError) as exc:
        raise PayloadError(f"int8 payload lacks or mis-shapes its parts: {exc}") from None
    state, at = {}, {"codes": 0, "qparams": 0, "floats": 0}
    for name, tensor in template.items():
        n = tensor.numel()
        if n < min_numel:
            part = floats[at["floats"] : at["floats"] + n]
            at["floats"] += n
            if part.numel() != n:
                raise PayloadError(f"int8 payload ends before tensor {name!r} (floats)")
            state[name] = part.reshape(tensor.shape).to(tensor.dtype)
            continue
        axis = channel_axis(tensor.shape)
        channels = 1 if axis is None else int(tensor.shape[axis])
        q = codes[at["codes"] : at["codes"] + n]
        side = qparams[at["qparams"] : at["qparams"] + channels]
        at["codes"] += n
        at["qparams"] += channels
        if q.numel() != n or side.shape[0] != channels:
            raise PayloadError(f"int8 payload ends before tensor {name!r} (codes or qparams)")
        state[name] = dequantize_int8(q.reshape(tensor.shape), side[:, 0].contiguous(), side[:, 1].contiguous(),
                                        axis, tensor.dtype)
    if at["codes"] != codes.numel() or at["floats"] != floats.numel() or at["qparams"] != qparams.shape[0]:
        raise PayloadError("int8 payload has more values than the device model's tensors")
    return state


def int8_payload(model: nn.Module, meta: Mapping | None = None, min_numel: int = 256) -> bytes:
    """The wire payload of ``model`` quantized to int8 (:func:`pack_int8`, zstd-compressed envelope)."""
    meta = {"format": "int8-packed", "min_numel": min_numel, **(meta or {})}
    return encode_state(pack_int8(model.state_dict(), min_numel), codec="fp32", compress="zstd", meta=meta)


def load_int8_payload(model: ModuleT, payload: bytes) -> ModuleT:
    """On the device: decode an :func:`int8_payload` into ``model`` (which supplies names and shapes)."""
    packed, meta = decode_state(payload)
    if meta.get("format") != "int8-packed":
        raise PayloadError(f"payload format is {meta.get('format')!r}, not 'int8-packed'")
    model.load_state_dict(unpack_int8(packed, model.state_dict(), int(meta["min_numel"])))
    return model.eval()


def quantized_copy(model: ModuleT, min_numel: int = 256) -> ModuleT:
    """A copy of ``model`` whose weights went through int8 and back: what the device will compute with."""
    clone = copy.deepcopy(model)
    clone.load_state_dict(dequantize_state(quantize_state(model.state_dict(), min_numel)))
    return clone.eval()
