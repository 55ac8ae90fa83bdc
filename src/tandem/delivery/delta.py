"""Delta delivery: send only what changed between the device's model version and the cloud's new one.

The cloud keeps the exact weights each device holds (after that device's decode, e.g. int8), computes
``new - held``, drops tensors that did not change, keeps the largest-magnitude ``fraction`` of each changed
tensor's entries (top-k sparsification with fp16 values, :class:`tandem.core.codecs.TopKCodec`) and sends
that with the base version in the payload's meta. The device refuses a delta built for another version
(:class:`PayloadError`) and otherwise adds it. Pure functions on state dicts.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tandem.core.codecs import get_codec
from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError

StateDict = Mapping[str, torch.Tensor]


def state_difference(held: StateDict, new: StateDict) -> dict[str, torch.Tensor]:
    """``new - held`` for every floating tensor that changed (same names and shapes required)."""
    if set(held) != set(new):
        raise ConfigError(f"state_difference: tensor names differ: {sorted(set(held) ^ set(new))}")
    diff = {}
    for name, tensor in new.items():
        if tensor.shape != held[name].shape:
            raise ConfigError(f"state_difference: {name!r} is {tuple(held[name].shape)} on the device, "
                              f"{tuple(tensor.shape)} in the cloud")
        if tensor.is_floating_point():
            change = (tensor - held[name]).detach()
            if bool((change != 0).any()):
                diff[name] = change
        elif not torch.equal(tensor, held[name]):
            raise ConfigError(f"state_difference: non-float tensor {name!r} changed; send the full model")
    return diff


def delta_payload(held: StateDict, new: StateDict, base_version: int, new_version: int, fraction: float = 0.1,
                  values: str = "fp16") -> bytes:
    """Envelope of the top-``fraction`` entries of each changed tensor of ``new - held`` (zstd-compressed)."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"delta_payload: fraction must be in (0, 1], got {fraction}")
    codec = get_codec("topk", fraction=fraction, values=values, compress="zstd")
    meta = {"kind": "delta", "base_version": int(base_version), "version": int(new_version)}
    return encode_state(state_difference(held, new), codec=codec, meta=meta)


def apply_delta(held: StateDict, payload: bytes, held_version: int) -> tuple[dict[str, torch.Tensor], int]:
    """``(held + delta, new version)`` on the device; a delta for another base version is a PayloadError."""
    delta, meta = decode_state(payload)
    if meta.get("kind") != "delta" or meta.get("base_version") != held_version:
        raise PayloadError(f"delta payload is for base version {meta.get('base_version')!r}, the device holds "
                           f"version {held_version}")
    unknown = set(delta) - set(held)
    if unknown:
        raise PayloadError(f"delta names tensors the device model lacks: {sorted(unknown)}")
    out = {name: tensor.clone() for name, tensor in held.items()}
    for name, change in delta.items():
        if change.shape != out[name].shape:
            raise PayloadError(f"delta {name!r} has shape {tuple(change.shape)}, the device tensor "
                               f"{tuple(out[name].shape)}")
        out[name] = out[name] + change.to(out[name].dtype)
    return out, int(meta["version"])
