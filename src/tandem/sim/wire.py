"""The simulated network path of a round: every model download and update upload is really encoded.

Bytes are ``len(payload)`` of :func:`tandem.core.envelope.encode_state` envelopes, and clients train on
(and the server aggregates) what :func:`~tandem.core.envelope.decode_state` gives back, so a lossy
codec (``fp16``, ``int8``, ``topk``) affects the run exactly as it would on real devices. With the
lossless ``fp32`` codec and float32 tensors the decode is skipped: it would return the same bits.

Layout: each group of tensors (the parameters, SCAFFOLD's ``delta_c``, the server's ``c``) travels as
one flat float32 vector named after the group; both ends know the model, so names and shapes need not
travel. One tensor per group keeps the per-tensor cost of the envelope (header entry, NaN/Inf check)
off the hot path: a round of 10 digits-MLP updates costs about 1 ms instead of 2.5 ms. Quantizing
codecs therefore use one scale (``int8``) or one top-k (``topk``) per group. Non-float32 tensors
(e.g. integer buffers) travel as their own named entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.federated.strategy import ClientResult, RoundPlan

Group = Mapping[str, torch.Tensor]


def _is_group(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(v, torch.Tensor) for v in value.values())


def _pack(groups: Mapping[str, Group]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, group in groups.items():
        flat = [v.reshape(-1) for v in group.values() if v.dtype == torch.float32]
        if flat:
            out[name] = torch.cat(flat)
        for key, v in group.items():
            if v.dtype != torch.float32:
                out[f"{name}/{key}"] = v
    return out


def _unpack(state: Mapping[str, torch.Tensor], groups: Mapping[str, Group]) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, like in groups.items():
        keys = [k for k, v in like.items() if v.dtype == torch.float32]
        parts = torch.split(state[name], [like[k].numel() for k in keys]) if keys else ()
        group = {k: p.view(like[k].shape) for k, p in zip(keys, parts, strict=True)}
        group.update({k: state[f"{name}/{k}"] for k, v in like.items() if v.dtype != torch.float32})
        out[name] = {k: group[k] for k in like}
    return out


class Wire:
    """Encodes round plans and client results with a codec of :mod:`tandem.core.codecs` and counts bytes.

    Parameters
    ----------
    codec:
        Codec name (``"fp32"`` lossless, ``"fp16"``, ``"int8"``, ...).
    compress:
        ``"zstd"`` to compress payload bodies, or ``None``.
    """

    def __init__(self, codec: str = "fp32", compress: str | None = None) -> None:
        self.codec = codec
        self.compress = compress

    def _lossless(self, packed: Mapping[str, torch.Tensor]) -> bool:
        # fp32 carries float32 bit for bit (tandem.core.codecs.Fp32Codec; tested there and in tests/sim)
        return self.codec == "fp32" and all(v.dtype == torch.float32 for v in packed.values())

    def _send(self, groups: dict[str, Group], meta: dict[str, Any]) -> tuple[dict[str, dict] | None, int]:
        """Encode; returns the decoded groups (``None`` when decoding would give the same tensors back)."""
        packed = _pack(groups)
        payload = encode_state(packed, self.codec, self.compress, meta)
        if self._lossless(packed):
            return None, len(payload)
        decoded, _ = decode_state(payload)
        return _unpack(decoded, groups), len(payload)

    def download(self, plan: RoundPlan) -> tuple[RoundPlan, int]:
        """The plan as the clients decode it, and the size of the broadcast payload in bytes.

        Tensor groups in ``plan.server_state`` (e.g. SCAFFOLD's ``c``) travel in the same payload.
        """
        groups = {"params": plan.params, **{k: v for k, v in plan.server_state.items() if _is_group(v)}}
        decoded, n = self._send(groups, {"kind": "global", "round": plan.round})
        if decoded is None:
            return plan, n
        params = decoded.pop("params")
        return dataclasses.replace(plan, params=params, server_state={**plan.server_state, **decoded}), n

    def upload(self, rnd: int, result: ClientResult) -> tuple[ClientResult, int]:
        """The result as the server decodes it, and its payload size in bytes (tensor groups of ``extra`` too)."""
        groups = {"params": result.params, **{k: v for k, v in result.extra.items() if _is_group(v)}}
        meta = {"kind": "update", "round": rnd, "client": result.client_id, "n_examples": result.n_examples}
        if result.loss_before is not None:
            meta["loss_before"] = result.loss_before
        decoded, n = self._send(groups, meta)
        if decoded is None:
            return result, n
        params = decoded.pop("params")
        return dataclasses.replace(result, params=params, extra={**result.extra, **decoded}), n
