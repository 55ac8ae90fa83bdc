"""Magnitude pruning for delivery: zero the smallest weights, then send only the survivors.

:func:`magnitude_masks` keeps, in every prunable tensor (floating, at least ``min_numel`` entries), the
``1 - sparsity`` fraction of entries with the largest magnitude (Han et al., "Learning both Weights and
Connections", NeurIPS 2015; per-tensor rather than global, so no layer or embedding table is emptied).
:func:`sparse_int8_state` packs a pruned state for the wire as a one-bit-per-entry keep mask plus int8 codes of
the kept values only, so bytes shrink with sparsity; :func:`unpack_sparse_state` restores the dense tensors.
All are pure functions of tensors.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from tandem.core.codecs import dequantize_int8, pack_mask, quantize_int8, unpack_mask
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.quantize import SEP

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def magnitude_masks(state: Mapping[str, torch.Tensor], sparsity: float = 0.5,
                    min_numel: int = 1024) -> dict[str, torch.Tensor]:
    """Boolean keep-masks for the prunable tensors of ``state``: the top ``1 - sparsity`` by ``|w|`` each."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"magnitude_masks: sparsity must be in [0, 1), got {sparsity}")
    masks = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() < min_numel:
            continue
        keep = max(1, round((1.0 - sparsity) * tensor.numel()))
        flat = tensor.detach().abs().reshape(-1)
        mask = torch.zeros(flat.numel(), dtype=torch.bool)
        mask[torch.topk(flat, keep, sorted=False).indices] = True
        masks[name] = mask.reshape(tensor.shape)
    return masks


def apply_masks(state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every masked tensor's dropped entries set to 0 (others unchanged). Pure."""
    unknown = set(masks) - set(state)
    if unknown:
        raise ConfigError(f"apply_masks: masks for tensors not in the state: {sorted(unknown)}")
    out = {}
    for name, tensor in state.items():
        if name in masks:
            if masks[name].shape != tensor.shape:
                raise ConfigError(f"apply_masks: mask {name!r} has shape {tuple(masks[name].shape)}, tensor "
                                  f"{tuple(tensor.shape)}")
            out[name] = tensor * masks[name].to(tensor.dtype)
        else:
            out[name] = tensor
    return out


def pruned_copy(model: ModuleT, sparsity: float = 0.5,
                min_numel: int = 1024) -> tuple[ModuleT, dict[str, torch.Tensor]]:
    """``(copy of model with magnitude-pruned weights, keep-masks)``."""
    state = model.state_dict()
    masks = magnitude_masks(state, sparsity, min_numel)
    clone = copy.deepcopy(model)
    clone.load_state_dict(apply_masks(state, masks))
    return clone.eval(), masks


def sparse_int8_state(state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pack: masked tensors as ``name::bits`` (packed keep-mask) + int8 ``name::q/scale/offset`` of kept values."""
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name not in masks:
            packed[name] = tensor.detach().clone()
            continue
        keep = masks[name].reshape(-1)
        values = tensor.detach().reshape(-1)[keep]
        codes, scale, offset = quantize_int8(values.float(), None)
        bits = np.frombuffer(pack_mask(keep.numpy()), dtype=np.uint8).copy()
        packed.update({f"{name}{SEP}bits": torch.from_numpy(bits), f"{name}{SEP}q": codes,
                       f"{name}{SEP}scale": scale, f"{name}{SEP}offset": offset,
                       f"{name}{SEP}shape": torch.tensor(list(tensor.shape), dtype=torch.int64)})
    return packed


def unpack_sparse_state(packed: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`sparse_int8_state`: dense float tensors with zeros where entries were pruned."""
    state: dict[str, torch.Tensor] = {}
    for name, tensor in packed.items():
        if SEP not in name:
            state[name] = tensor
            continue
        base, part = name.rsplit(SEP, 1)
        if part != "bits":
            continue
        try:
            shape = [int(v) for v in packed[f"{base}{SEP}shape"]]
            codes, scale = packed[f"{base}{SEP}q"], packed[f"{base}{SEP}scale"]
            offset = packed[f"{base}{SEP}offset"]
        except KeyError as exc:
            raise PayloadError(f"sparse tensor {base!r} lacks part {exc.args[0]!r}") from None
        numel = int(np.prod(shape))
        keep = torch.from_numpy(unpack_mask(tensor.numpy().tobytes(), numel))
        if int(keep.sum()) != codes.numel():
            raise PayloadError(f"sparse tensor {base!r}: mask keeps {int(keep.sum())} entries, {codes.numel()} sent")
        dense = torch.zeros(numel)
        dense[keep] = dequantize_int8(codes, scale, offset, None)
        state[base] = dense.reshape(shape)
    return state
