"""The per-device state of a replay chunk and the running totals of a replay (internal to the simulator).

A chunk's devices are rows of a few tensors (longest streams first, so the devices still active at step
``k`` are a prefix): the items each user already clicked, the held cloud answer with its age and the
position it was made at, and the feedback signals of the last click. :class:`Totals` sums quality,
requests and cloud FLOPs over chunks and keeps the optional per-step arrays and the step log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tandem.routing.signals import NO_CACHE_AGE, reciprocal_rank_at, reciprocal_rank_in_list
from tandem.routing.streams import Streams

EMA = 0.7
"""Decay of the running per-device signals (:attr:`ChunkState.edge_ema`, :attr:`ChunkState.hit_ema`)."""


def ndcg_at(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """Per-step NDCG@k of one relevant item from 0-based ranks: ``1 / log2(rank + 2)`` inside the top k. Pure."""
    gain = 1.0 / torch.log2(ranks.to(torch.float64) + 2.0)
    return torch.where(ranks < k, gain, torch.zeros_like(gain))


@dataclass
class StepLog:
    """Logged steps: signals (``features``), the measured gain of asking, the user (row) of each step, the
    policy's score and the global step id.

    The gain of asking at step ``s`` is ``sum_j discount**j * (NDCG@k at s + j holding the answer made at s
    - NDCG@k at s + j holding the answer held before s)`` for ``j < horizon`` (and inside the stream): what a
    request is worth if the device then keeps the answer, against keeping the old one. ``horizon`` 1 is the
    myopic gain of the step itself.
    """

    features: np.ndarray
    gains: np.ndarray
    users: np.ndarray
    scores: np.ndarray
    steps: np.ndarray | None = None


@dataclass
class ChunkState:
    """Per-device state of one chunk (row ``i`` = the chunk's ``i``-th user, longest streams first)."""

    seen: torch.Tensor
    ids: torch.Tensor
    logp: torch.Tensor
    has: torch.Tensor
    age: torch.Tensor
    made_at: np.ndarray
    rr_cloud: torch.Tensor
    rr_device: torch.Tensor
    sim_cloud: torch.Tensor
    edge_ema: torch.Tensor
    hit_ema: torch.Tensor
    surprise: torch.Tensor
    surprise_sum: torch.Tensor

    @classmethod
    def start(cls, streams: Streams, users: np.ndarray, n_cand: int) -> ChunkState:
        b = users.size
        seen = torch.zeros(b, streams.n_items + 1, dtype=torch.bool)
        offsets = streams.seqs.offsets[users]
        for j in range(streams.start):  # the history before the first step is already clicked
            seen[torch.arange(b), torch.as_tensor(streams.seqs.items[offsets + j])] = True
        zeros = torch.zeros(b)
        return cls(seen, torch.zeros(b, n_cand, dtype=torch.int64), torch.full((b, n_cand), float("-inf")),
                   torch.zeros(b, dtype=torch.bool), torch.full((b,), float(NO_CACHE_AGE)), np.zeros(b, np.int64),
                   zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone(),
                   zeros.clone())

    def after_step(self, m: int, targets: torch.Tensor, rank: torch.Tensor, k: int,
                   unit: torch.Tensor | None, next_known: torch.Tensor | None = None,
                   surprise: torch.Tensor | None = None) -> None:
        """The click is revealed: update the feedback signals, mark it clicked, age the held answers.

        ``unit`` holds the device's item vectors normalized to length 1 (None: no similarity signal).
        ``next_known [m]``: whether the answer held at this step had anticipated the click before it (the
        running share of such steps, :attr:`hit_ema`, tells how predictable this user is to the cloud).
        ``surprise [m]``: the small model's normalized surprisal of each click (:func:`normalized_surprise`).
        """
        has = self.has[:m]
        self.rr_device[:m] = reciprocal_rank_at(rank, k)
        self.rr_cloud[:m] = torch.where(has, reciprocal_rank_in_list(targets, self.ids[:m]), torch.zeros(m))
        edge = self.rr_cloud[:m] - self.rr_device[:m]  # how much better the cloud's list placed this click
        self.edge_ema[:m] = torch.where(has, EMA * self.edge_ema[:m] + (1 - EMA) * edge, self.edge_ema[:m])
        if next_known is not None:
            self.hit_ema[:m] = torch.where(has, EMA * self.hit_ema[:m] + (1 - EMA) * next_known.float(),
                                           self.hit_ema[:m])
        if unit is not None:
            cos = (unit[self.ids[:m, :10]] * unit[targets].unsqueeze(1)).sum(2).amax(1)
            self.sim_cloud[:m] = torch.where(has, cos, torch.zeros(m))
        if surprise is not None:
            self.surprise[:m] = surprise
            self.surprise_sum[:m] += surprise
        self.seen[torch.arange(m), targets] = True
        self.age[:m] = torch.clamp(self.age[:m] + 1, max=NO_CACHE_AGE)


class Totals:
    """Running sums over all chunks, plus optional per-step arrays and the step log."""

    def __init__(self, n_steps: int, keep_steps: bool, log: bool) -> None:
        self.ndcg = self.hits = self.flops = 0.0
        self.requests = 0
        self.latency = np.zeros(n_steps, dtype=np.float32)
        self.ranks = np.zeros(n_steps, dtype=np.int32) if keep_steps else None
        self.requested = np.zeros(n_steps, dtype=bool) if keep_steps else None
        self.log_features: list[np.ndarray] | None = [] if log else None
        self.gain_by_step = np.zeros(n_steps if log else 0, dtype=np.float64)
        self._steps: list[np.ndarray] = []
        self._users: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []

    def add(self, steps: np.ndarray, rank: torch.Tensor, ask: np.ndarray, latency: np.ndarray, k: int,
            flops: float) -> None:
        self.ndcg += float(ndcg_at(rank, k).sum())
        self.hits += float((rank < k).sum())
        self.requests += int(ask.sum())
        self.flops += flops
        self.latency[steps] = latency
        if self.ranks is not None and self.requested is not None:
            self.ranks[steps] = rank.clamp(max=np.iinfo(np.int32).max).numpy()
            self.requested[steps] = ask

    def add_log(self, features: np.ndarray, steps: np.ndarray, users: np.ndarray, scores: np.ndarray) -> None:
        """Record the signals of logged ``steps``; their gains accumulate in :attr:`gain_by_step` meanwhile."""
        assert self.log_features is not None
        self.log_features.append(features)
        self._steps.append(np.asarray(steps, dtype=np.int64))
        self._users.append(users)
        self._scores.append(np.asarray(scores, dtype=np.float64))

    def add_gain(self, steps: np.ndarray, gain: torch.Tensor | np.ndarray, weight: float = 1.0) -> None:
        """Credit ``weight * gain`` to the request decisions made at ``steps`` (distinct step ids)."""
        self.gain_by_step[np.asarray(steps, dtype=np.int64)] += weight * np.asarray(gain, dtype=np.float64)

    def step_log(self) -> StepLog | None:
        if self.log_features is None:
            return None
        cat = np.concatenate
        steps = cat(self._steps) if self._steps else np.zeros(0, np.int64)
        return StepLog(cat(self.log_features) if self.log_features else np.zeros((0, 0)), self.gain_by_step[steps],
                       cat(self._users) if self._users else np.zeros(0, np.int64),
                       cat(self._scores) if self._scores else np.zeros(0), steps)
