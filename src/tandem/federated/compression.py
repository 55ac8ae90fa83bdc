"""Uplink compression of client updates: any codec, optionally with error feedback — bytes from the wire.

The quantizers themselves are codecs of :mod:`tandem.core.codecs` (their maths in
:mod:`tandem.core.codecs.quantize`):

* ``qsgd`` (:mod:`tandem.core.codecs.qsgd`): stochastic quantization of Alistarh, Grubic, Li, Tomioka and
  Vojnovic, "QSGD: Communication-Efficient SGD via Gradient Quantization and Encoding", NeurIPS 2017. Per
  bucket of ``d`` entries, ``x -> norm * sign(x) * l / s`` with ``l = floor(|x| s / norm) + Bernoulli(frac)``
  (unbiased), ``s = 2^(bits-1) - 1`` levels each side; codes pack into ``bits`` bits (8 or 4), one float32
  norm per bucket.
* ``sparseq`` (:mod:`tandem.core.codecs.sparseq`): top-k with bitmask/delta-varint indices and int8/int4
  values, the codec that cuts uplink bytes >= 10x on the reference workload within a point of fp32
  (``benchmarks/trust_compression.py``); with error feedback its value rounding error is fed back too.

This module adds:

* :class:`CompressedUplink`: a client hook (:mod:`tandem.federated.hooks`) that encodes each client's
  *update* ``w_k - w`` with any registered codec (``sparseq``, ``topk``, ``qsgd``, ``fp16``, ``int8``,
  ``fp32``) into a real :func:`tandem.core.envelope.encode_state` payload, counts ``len(payload)`` as its
  uplink bytes, and replaces the update by what the server decodes. With ``error_feedback`` the client keeps
  the residual ``e_k <- (u_k + e_k) - decode(encode(u_k + e_k))`` and adds it to its next update (Stich,
  Cordonnier and Jaggi, "Sparsified SGD with Memory", NeurIPS 2018; Karimireddy et al. 2019, EF-SGD).

On a real fleet the device agent calls ``hook.transform`` and sends the payload; the server rebuilds the
parameters with :func:`params_from_payload`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import torch

from tandem.core.codecs import Codec, get_codec
from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import PayloadError
from tandem.federated.hooks import PerClientHook, update_of, with_update
from tandem.federated.robust import flatten, unflatten
from tandem.federated.strategy import ClientResult, Params


def params_from_payload(payload: bytes, global_params: Params, keys: list[str] | None = None) -> Params:
    """Server side: decode an update payload written by :class:`CompressedUplink` into parameters ``w + u``."""
    keys = list(global_params) if keys is None else keys
    state, _ = decode_state(payload)
    if "update" not in state:
        raise PayloadError("update payload has no 'update' tensor")
    vec = state["update"].to(torch.float32)
    if vec.numel() != sum(global_params[k].numel() for k in keys):
        raise PayloadError(
            f"update payload has {vec.numel()} values, the model has {sum(global_params[k].numel() for k in keys)}"
        )
    update = unflatten(vec, global_params, keys)
    return {k: (global_params[k].to(torch.float32) + update[k]).to(global_params[k].dtype) for k in keys}


class CompressedUplink(PerClientHook):
    """Client hook: encode each update with ``codec`` (real payload, bytes counted), optionally with error feedback.

    Parameters
    ----------
    codec:
        Registered codec name (``"sparseq"``, ``"topk"``, ``"qsgd"``, ``"fp16"``, ``"int8"``, ``"fp32"``) or a
        codec instance.
    error_feedback:
        Keep each client's compression residual and add it to its next update (Stich et al. 2018).
    compress:
        ``"zstd"`` to compress the payload body too.
    **codec_kwargs:
        Passed to the codec (``fraction=0.15, bits=4`` for ``sparseq``, ``bits=4`` for QSGD).

    Learned state: ``residuals_`` (client id -> float32 vector), ``bytes_by_round_`` (round -> uplink bytes),
    ``dense_bytes_by_round_`` (what the same updates cost as fp32 payloads, for the ratio).
    """

    def __init__(
        self,
        codec: str | Codec = "topk",
        *,
        error_feedback: bool = True,
        compress: str | None = None,
        **codec_kwargs: Any,
    ) -> None:
        self.codec = codec if isinstance(codec, Codec) else get_codec(codec, compress=compress, **codec_kwargs)
        self.error_feedback = bool(error_feedback)
        self.residuals_: dict[int, torch.Tensor] = {}
        self.bytes_by_round_: dict[int, int] = defaultdict(int)
        self.dense_bytes_by_round_: dict[int, int] = defaultdict(int)

    def transform(self, rnd: int, global_params: Params, result: ClientResult) -> ClientResult:
        keys = list(result.params)
        u = flatten(update_of(result, global_params), keys)
        cid = int(result.client_id)
        if self.error_feedback and cid in self.residuals_:
            u = u + self.residuals_[cid]
        meta = {"kind": "update", "round": rnd, "client": cid, "n_examples": result.n_examples}
        payload = encode_state({"update": u}, self.codec, meta=meta)
        self.bytes_by_round_[rnd] += len(payload)
        self.dense_bytes_by_round_[rnd] += len(encode_state({"update": u}, "fp32", meta=meta))
        sent = decode_state(payload)[0]["update"].to(torch.float32)
        if self.error_feedback:
            self.residuals_[cid] = u - sent
        return with_update(result, global_params, unflatten(sent, global_params, keys))

    def state_dict(self) -> dict[str, Any]:
        return {
            "residuals": dict(self.residuals_),
            "bytes": dict(self.bytes_by_round_),
            "dense_bytes": dict(self.dense_bytes_by_round_),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.residuals_ = {int(k): v for k, v in state.get("residuals", {}).items()}
        self.bytes_by_round_ = defaultdict(int, state.get("bytes", {}))
        self.dense_bytes_by_round_ = defaultdict(int, state.get("dense_bytes", {}))
