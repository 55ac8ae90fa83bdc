"""The wire format of a collaborative-inference request and answer, and their real encoded sizes.

A request carries the device's recent history (``int32`` item ids, the last ``max_len``); the answer carries
the cloud's candidates (``int32`` ids) with their log-probabilities (``fp16`` on the wire). Both are
:func:`tandem.core.envelope.encode_state` envelopes inside :class:`~tandem.core.messages.InferenceRequest` /
:class:`~tandem.core.messages.InferenceResponse`, so the byte counts the simulator charges are
``len(payload)`` of real payloads. Uncompressed envelopes have a size fixed by their shapes, so
:class:`PayloadSizer` encodes one real payload per distinct shape and reuses its length.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.core.messages import InferenceRequest, InferenceResponse


def encode_request(device_id: int, request_id: str, history: np.ndarray) -> InferenceRequest:
    """An :class:`InferenceRequest` whose payload holds the history ids (0 padding dropped)."""
    h = np.asarray(history).reshape(-1)
    if h.dtype.kind not in "iu" or (h.size and (h.min() < 0 or h.max() > np.iinfo(np.int32).max)):
        raise ConfigError("encode_request: history must be non-negative int32-range item ids")
    payload = encode_state({"history": torch.as_tensor(h[h > 0].astype(np.int32))}, "fp32")
    return InferenceRequest(device_id, request_id, payload)


def decode_request(request: InferenceRequest) -> np.ndarray:
    """The history ids a request carries (``int64``)."""
    state, _ = decode_state(request.payload)
    if set(state) != {"history"} or state["history"].dim() != 1:
        raise PayloadError("inference request payload must hold one 1-D tensor 'history'")
    return state["history"].numpy().astype(np.int64)


def encode_response(request_id: str, ids: torch.Tensor, logp: torch.Tensor) -> InferenceResponse:
    """An :class:`InferenceResponse` holding candidate ids (``int32``) and log-probs (``fp16`` on the wire)."""
    if ids.shape != logp.shape or ids.dim() != 1:
        raise ConfigError(f"encode_response: ids and logp must be equal 1-D tensors, got {list(ids.shape)}, "
                          f"{list(logp.shape)}")
    keep = torch.isfinite(logp) & (ids > 0)
    state = {"items": ids[keep].to(torch.int32), "logp": logp[keep].float()}
    return InferenceResponse(request_id, encode_state(state, "fp16"))


def decode_response(response: InferenceResponse) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids int64 [N], logp float32 [N])`` from a response."""
    state, _ = decode_state(response.payload)
    if set(state) != {"items", "logp"} or state["items"].shape != state["logp"].shape:
        raise PayloadError("inference response payload must hold equal-length 'items' and 'logp'")
    return state["items"].long(), state["logp"].float()


class PayloadSizer:
    """Real encoded sizes, memoized by shape: request bytes by history length, answer bytes by list length."""

    def __init__(self) -> None:
        self._request: dict[int, int] = {}
        self._response: dict[int, int] = {}

    def request_bytes(self, history_lengths: np.ndarray) -> np.ndarray:
        """``int64 [B]`` payload bytes of requests carrying histories of these lengths."""
        return self._lookup(self._request, np.asarray(history_lengths, dtype=np.int64),
                            lambda n: len(encode_request(0, "size", np.ones(n, np.int64)).payload))

    def response_bytes(self, n_candidates: np.ndarray) -> np.ndarray:
        """``int64 [B]`` payload bytes of answers with this many candidates."""
        return self._lookup(self._response, np.asarray(n_candidates, dtype=np.int64),
                            lambda n: len(encode_response("size", torch.arange(1, n + 1), torch.zeros(n)).payload))

    @staticmethod
    def _lookup(table: dict[int, int], sizes: np.ndarray, encode: Callable[[int], int]) -> np.ndarray:
        if sizes.size and sizes.min() < 0:
            raise ConfigError("PayloadSizer: lengths must be >= 0")
        for n in set(np.unique(sizes).tolist()) - set(table):  # one real payload per new length
            table[n] = encode(n)
        lut = np.zeros(int(sizes.max(initial=0)) + 1, dtype=np.int64)
        known = [n for n in table if n < lut.size]
        lut[known] = [table[n] for n in known]
        return lut[sizes]
