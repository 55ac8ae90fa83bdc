"""The wire format of a collaborative-inference request and answer, and their real encoded sizes.

A request carries the device's recent history (``int32`` item ids, the last ``max_len``); the answer carries
the cloud's candidates (``int32`` ids) with their log-probabilities (``fp16`` on the wire) and, when the
cloud anticipates clicks (:mod:`tandem.routing.anticipate`), the anticipated ids ``[M]`` with one
conditional answer ``[M, n]`` per anticipated click. Both are
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


def encode_response(request_id: str, ids: torch.Tensor, logp: torch.Tensor,
                    anticipated: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> InferenceResponse:
    """An :class:`InferenceResponse` holding candidate ids (``int32``) and log-probs (``fp16`` on the wire).

    ``anticipated``: ``(next_items [M], next_ids [M, n], next_logp [M, n])``, the clicks the cloud anticipates
    and its answer after each (empty entries: id 0).
    """
    if ids.shape != logp.shape or ids.dim() != 1:
        raise ConfigError(f"encode_response: ids and logp must be equal 1-D tensors, got {list(ids.shape)}, "
                          f"{list(logp.shape)}")
    keep = torch.isfinite(logp) & (ids > 0)
    state = {"items": ids[keep].to(torch.int32), "logp": logp[keep].float()}
    if anticipated is not None:
        items, n_ids, n_logp = anticipated
        if items.dim() != 1 or n_ids.shape != n_logp.shape or n_ids.dim() != 2 or n_ids.shape[0] != items.shape[0]:
            raise ConfigError(f"encode_response: anticipated must be items [M], ids and logp [M, n], got "
                              f"{list(items.shape)}, {list(n_ids.shape)}, {list(n_logp.shape)}")
        state.update({"next_items": items.to(torch.int32), "next_ids": n_ids.to(torch.int32),
                      "next_logp": torch.nan_to_num(n_logp.float(), neginf=-1e4)})
    return InferenceResponse(request_id, encode_state(state, "fp16"))


def decode_response(response: InferenceResponse) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids int64 [N], logp float32 [N])`` from a response (its anticipatory part, if any: :func:`decode_next`)."""
    state, _ = decode_state(response.payload)
    if not {"items", "logp"} <= set(state) or state["items"].shape != state["logp"].shape:
        raise PayloadError("inference response payload must hold equal-length 'items' and 'logp'")
    return state["items"].long(), state["logp"].float()


def decode_next(response: InferenceResponse) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``(next_items [M], next_ids [M, n], next_logp [M, n])`` of an anticipatory answer; None if it has none."""
    state, _ = decode_state(response.payload)
    if "next_items" not in state:
        return None
    ids, logp, items = state["next_ids"], state["next_logp"], state["next_items"]
    if ids.shape != logp.shape or ids.shape[0] != items.shape[0]:
        raise PayloadError("inference response: next_items, next_ids and next_logp do not match")
    return items.long(), ids.long(), logp.float()


class PayloadSizer:
    """Real encoded sizes, memoized by shape: request bytes by history length, answer bytes by list length."""

    def __init__(self) -> None:
        self._request: dict[int, int] = {}
        self._response: dict[int, int] = {}
        self._next: dict[tuple[int, int], int] = {}

    def request_bytes(self, history_lengths: np.ndarray) -> np.ndarray:
        """``int64 [B]`` payload bytes of requests carrying histories of these lengths."""
        return self._lookup(self._request, np.asarray(history_lengths, dtype=np.int64),
                            lambda n: len(encode_request(0, "size", np.ones(n, np.int64)).payload))

    def response_bytes(self, n_candidates: np.ndarray, n_next: int = 0, next_len: int = 0) -> np.ndarray:
        """``int64 [B]`` payload bytes of answers with this many candidates (and ``n_next`` anticipated clicks
        with ``next_len`` candidates each)."""
        base = self._lookup(self._response, np.asarray(n_candidates, dtype=np.int64),
                            lambda n: len(encode_response("size", torch.arange(1, n + 1), torch.zeros(n)).payload))
        if n_next <= 0:
            return base
        key = (int(n_next), int(next_len))
        if key not in self._next:  # what the anticipatory tensors add to a real payload
            one = torch.ones(1, dtype=torch.int64)
            extra = (torch.arange(1, n_next + 1), torch.ones(n_next, next_len, dtype=torch.int64),
                     torch.zeros(n_next, next_len))
            self._next[key] = len(encode_response("size", one, torch.zeros(1), extra).payload) - \
                len(encode_response("size", one, torch.zeros(1)).payload)
        return base + self._next[key]

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
