"""Anticipatory cloud answers: with its list, the cloud sends what it would answer after each likely next click.

A held answer loses its value fast as the user keeps clicking: measured on ML-100k's eval users, an answer one
click old keeps about half of a fresh answer's gain over the small model, because the large model's next-item
prediction leans heavily on the newest click, which the stale answer never saw. The cloud can see that coming.
With ``n_next > 0`` it also sends, for each of the ``n_next`` items it ranks highest (the clicks it
anticipates), the answer it *would* give to the history followed by that click: ``next_len`` candidates with
their log-probabilities. On the device, once the user clicks one of the anticipated items, the answer
conditioned on that click replaces the held list (:meth:`Anticipation.resolve`): one click after a request it
is exactly the fresh answer; later it knows the newest click but misses the ones between.

The price is real and counted: the answer grows by ``n_next * (next_len * 6 + 4)`` bytes on the wire
(:class:`~tandem.routing.payloads.PayloadSizer`), and the cloud runs ``n_next`` appended clicks per request
(with a shared key/value cache on SASRec, :meth:`~tandem.models.sasrec.SASRec.appended_flops`; otherwise
``n_next`` full forward passes are charged).

With ``pool`` set, each conditional answer is chosen from the ``pool`` items the cloud ranked highest for the
history alone instead of the whole catalogue (:func:`pooled_top`): the appended user vectors are scored
against ``pool`` item vectors, not all of them, which is most of the anticipatory FLOPs on a large catalogue.
Its log-probabilities are normalized over the pool and scaled by the share of probability the base answer
put on it, so they stay on the catalogue's scale.

In the simulator the anticipated ids of every step come from a table computed once; the conditional answers
are computed by the large model on demand, for the clicks users really made, and memoized (a policy replay
asks for the same few (request, click) pairs again and again).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.routing.scorers import _width_batches, top_candidates
from tandem.routing.signals import reciprocal_rank_in_list
from tandem.routing.streams import Streams


@runtime_checkable
class AppendedScorer(Protocol):
    """A model that shares one pass over a history between many appended clicks (SASRec's key/value cache)."""

    item_embedding: nn.Embedding

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor: ...

    def appended_user_vectors(self, history: torch.Tensor, clicks: torch.Tensor) -> torch.Tensor: ...


class Anticipation:
    """The anticipatory part of the large model's answers over one set of streams.

    Args:
        model: the cloud's large model (history ids ``[B, L]`` -> logits ``[B, n_items + 1]``).
        streams: the streams it answers for. n_next: anticipated clicks per answer (``M``).
        next_len: candidates in each conditional answer. max_len: the history length the model reads.
        pool: choose each conditional answer among the base answer's best ``pool`` items (None: every item).
        ranked: the model's best unseen ids per step (``[steps, >= n_next]``, e.g. a wide
            :class:`~tandem.routing.scorers.CloudTable`'s ids) if already computed: saves one pass of the
            large model over every step. None: computed here.
        batch_size: rows per forward pass. progress: show a bar while the anticipated table is computed.
    """

    def __init__(self, model: nn.Module, streams: Streams, n_next: int, next_len: int = 30, *, max_len: int = 50,
                 pool: int | None = None, ranked: torch.Tensor | None = None, batch_size: int = 1024,
                 progress: bool = False) -> None:
        if n_next < 1 or next_len < 1 or max_len < 2:
            raise ConfigError(f"Anticipation: need n_next >= 1, next_len >= 1 and max_len >= 2, got {n_next}, "
                              f"{next_len}, {max_len}")
        if pool is not None and pool < next_len:
            raise ConfigError(f"Anticipation: pool ({pool}) must hold at least next_len ({next_len}) items")
        self.pool = None if pool is None else int(pool)
        self.model, self.streams = model.eval(), streams
        self.n_next, self.next_len, self.max_len, self.batch_size = int(n_next), int(next_len), max_len, batch_size
        self._window = getattr(model, "window", None)  # fixed-window models need every column
        if ranked is not None and (ranked.dim() != 2 or ranked.shape[0] != streams.n_steps
                                   or ranked.shape[1] < min(n_next, streams.n_items)):
            raise ConfigError(f"Anticipation: ranked ids must be [{streams.n_steps}, >= {n_next}], got "
                              f"{list(ranked.shape)}")
        self.table = self._anticipated_table(progress) if ranked is None else \
            ranked[:, :n_next].to(torch.int32).contiguous()
        self._memo: dict[int, int] = {}  # (step, click) key -> row of the answer store
        self._ids = torch.zeros(256, self.next_len, dtype=torch.int64)
        self._logp = torch.zeros(256, self.next_len)
        self._used = 0

    @property
    def extra_flops(self) -> float:
        """Cloud FLOPs the anticipatory part adds to one request."""
        fn = getattr(self.model, "appended_flops", None)
        if callable(fn):
            return float(fn(self.n_next, self.pool))
        per = getattr(self.model, "flops_per_example", None)
        return float(self.n_next * per()) if callable(per) else 0.0

    @torch.no_grad()
    def _anticipated_table(self, progress: bool) -> torch.Tensor:
        s = self.streams
        table = torch.zeros(s.n_steps, self.n_next, dtype=torch.int32)
        batches = _width_batches(s, np.arange(s.n_steps), self.batch_size)
        with progress_bar(progress) as bar:
            task = bar.add_task("cloud model: anticipated clicks", total=len(batches))
            for batch in batches:
                hist = self._base_history(batch)
                ids, _ = top_candidates(self.model(hist), hist, self.n_next)
                table[torch.as_tensor(batch), : ids.shape[1]] = ids.to(torch.int32)
                bar.advance(task)
        return table

    def _base_history(self, steps: np.ndarray) -> torch.Tensor:
        """The history the request at each step sends (what the base answer and its pool are made from)."""
        return torch.as_tensor(self.streams.histories(steps, self.max_len, self.max_len if self._window else None))

    def anticipated(self, steps: np.ndarray) -> torch.Tensor:
        """``int64 [B, n_next]`` the clicks the answer made at each step anticipates (0 = none)."""
        return self.table[torch.as_tensor(np.asarray(steps, dtype=np.int64))].long()

    def answer_after(self, steps: np.ndarray, clicks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids [B, next_len], logp [B, next_len])``: the answer to each step's history followed by its click."""
        steps, clicks = np.asarray(steps, dtype=np.int64), np.asarray(clicks, dtype=np.int64)
        if steps.shape != clicks.shape or steps.ndim != 1 or (clicks.size and (clicks.min() < 1 or
                                                                                 clicks.max() > self.streams.n_items)):
            raise ConfigError(f"Anticipation.answer_after: need equal 1-D steps and clicks with item ids in "
                              f"1..{self.streams.n_items}, got shapes {steps.shape}, {clicks.shape}")
        keys = steps * (self.streams.n_items + 1) + clicks
        missing = np.unique(np.asarray([k for k in keys.tolist() if k not in self._memo], dtype=np.int64))
        if missing.size:
            self._compute(missing // (self.streams.n_items + 1), missing % (self.streams.n_items + 1), missing)
        rows = torch.as_tensor([self._memo[k] for k in keys.tolist()], dtype=torch.int64)
        return self._ids[rows], self._logp[rows]

    @torch.no_grad()
    def _compute(self, steps: np.ndarray, clicks: np.ndarray, keys: np.ndarray) -> None:
        ids = torch.zeros(steps.size, self.next_len, dtype=torch.int64)
        logp = torch.full((steps.size, self.next_len), float("-inf"))
        for lo in range(0, steps.size, self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            prefix = self.streams.histories(steps[sl], self.max_len - 1, self.max_len - 1 if self._window else None)
            hist = torch.as_tensor(np.concatenate([prefix, clicks[sl, None]], axis=1))
            if self.pool is None:
                i, v = top_candidates(self.model(hist), hist, self.next_len)
            else:
                base_hist = self._base_history(steps[sl])
                pool_ids, pool_logp = top_candidates(self.model(base_hist), base_hist, self.pool)
                after = self.model(hist).gather(1, pool_ids)
                i, v = pooled_top(after, pool_ids, pool_logp, torch.as_tensor(clicks[sl]), self.next_len)
            ids[sl, : i.shape[1]], logp[sl, : v.shape[1]] = i, v
        base, end = self._used, self._used + keys.size
        if end > self._ids.shape[0]:  # grow the store geometrically: memoizing stays linear in the answers kept
            grow = max(end, 2 * self._ids.shape[0]) - self._ids.shape[0]
            self._ids = torch.cat([self._ids, torch.zeros(grow, self.next_len, dtype=torch.int64)])
            self._logp = torch.cat([self._logp, torch.zeros(grow, self.next_len)])
        self._ids[base:end], self._logp[base:end], self._used = ids, logp, end
        self._memo.update(zip(keys.tolist(), range(base, end), strict=True))

    def resolve(self, made_steps: np.ndarray, last_clicks: np.ndarray, ids: torch.Tensor, logp: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The answer each device ranks with: the conditional answer where its last click was anticipated.

        ``made_steps [B]`` the step each held answer was made at (``-1``: none held), ``last_clicks [B]`` the
        device's newest click *after* that request (0: none yet), ``ids``/``logp [B, N]`` the held lists.
        Returns ``(ids, logp, conditional [B] bool)``; conditional answers are padded to ``N`` columns.
        """
        made = np.asarray(made_steps, dtype=np.int64)
        clicks = torch.as_tensor(np.asarray(last_clicks, dtype=np.int64))
        usable = torch.as_tensor(made >= 0) & (clicks > 0)
        hit = torch.zeros(made.size, dtype=torch.bool)
        if bool(usable.any()):
            rows = usable.nonzero().view(-1)
            found = reciprocal_rank_in_list(clicks[rows], self.anticipated(made[rows.numpy()])) > 0
            hit[rows[found]] = True
        if not bool(hit.any()):
            return ids, logp, hit
        rows = hit.nonzero().view(-1)
        c_ids, c_logp = self.answer_after(made[rows.numpy()], clicks[rows].numpy())
        width = min(self.next_len, ids.shape[1])
        ids, logp = ids.clone(), logp.clone()
        ids[rows], logp[rows] = 0, float("-inf")
        ids[rows, :width], logp[rows, :width] = c_ids[:, :width], c_logp[:, :width]
        return ids, logp, hit


def pooled_top(after: torch.Tensor, pool_ids: torch.Tensor, pool_logp: torch.Tensor, clicks: torch.Tensor, n: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``n`` ``(ids, log-probs)`` of a conditional answer chosen inside a pool. Pure.

    ``after [B, P]`` are the scores of the pool items ``pool_ids [B, P]`` for "history + click", ``pool_logp``
    their log-probabilities in the base answer (``-inf`` / id 0 = empty slot), ``clicks [B]`` the appended
    clicks (excluded). The log-probabilities are a softmax over the pool plus the log of the probability the
    base answer put on the pool: catalogue-scale, assuming the click moves little mass into or out of it.
    """
    if after.shape != pool_ids.shape or pool_logp.shape != pool_ids.shape or clicks.shape != after.shape[:1]:
        raise ConfigError(f"pooled_top: need scores, ids and log-probs [B, P] and clicks [B], got {list(after.shape)}, "
                          f"{list(pool_ids.shape)}, {list(pool_logp.shape)}, {list(clicks.shape)}")
    empty = (pool_ids == 0) | ~torch.isfinite(pool_logp) | (pool_ids == clicks.view(-1, 1))
    scores = after.float().masked_fill(empty, float("-inf"))
    logp = torch.log_softmax(scores, dim=1) + torch.logsumexp(pool_logp, dim=1, keepdim=True)
    values, pos = logp.topk(min(n, logp.shape[1]), dim=1)
    return torch.where(torch.isfinite(values), pool_ids.gather(1, pos), torch.zeros_like(pos)), values


@torch.no_grad()
def anticipatory_answer(model: nn.Module, history: torch.Tensor, n_candidates: int, n_next: int,
                        next_len: int, pool: int | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a cloud sends for one batch of requests: its list and its answer after each anticipated click.

    ``history [B, L]`` (left-padded ids) -> ``(ids [B, n_candidates], logp, next_items [B, n_next],
    next_ids [B, n_next, next_len], next_logp)``. On a model with ``appended_user_vectors`` (SASRec) the
    ``n_next`` appended clicks share one pass over the history (a key/value cache); any other model runs one
    forward pass per anticipated click. With ``pool``, each conditional answer is chosen among the base
    answer's best ``pool`` items (:func:`pooled_top`), and only those are scored per click. Equal to
    :meth:`Anticipation.answer_after` (with the same ``pool``) for the same history and click.
    """
    if n_candidates < 1 or n_next < 1 or next_len < 1 or (pool is not None and pool < next_len):
        raise ConfigError(f"anticipatory_answer: counts must be >= 1 and pool >= next_len, got {n_candidates}, "
                          f"{n_next}, {next_len}, pool {pool}")
    model.eval()
    logits = model(history)
    # one ranking of the base answer: the list, the anticipated clicks and the pool are its prefixes
    ranked_ids, ranked_logp = top_candidates(logits, history, max(n_candidates, n_next, pool or 0))
    ids, logp = ranked_ids[:, :n_candidates], ranked_logp[:, :n_candidates]
    next_items = ranked_ids[:, :n_next]
    b, m = next_items.shape
    max_len = int(getattr(model, "max_len", history.shape[1] + 1))
    context = history[:, -(max_len - 1):] if max_len > 1 else history[:, :0]
    seen = torch.cat([context.unsqueeze(1).expand(b, m, -1), next_items.unsqueeze(2)], 2).reshape(b * m, -1)
    if pool is not None:
        return ids, logp, next_items, *_pooled_answers(model, history, next_items, seen, ranked_ids[:, :pool],
                                                       ranked_logp[:, :pool], next_len)
    if isinstance(model, AppendedScorer):
        after = model.item_scores(model.appended_user_vectors(history, next_items)).reshape(b * m, -1)
        after[:, 0] = float("-inf")
    else:
        after = model(seen)
    n_ids, n_logp = top_candidates(after, seen, next_len)
    return ids, logp, next_items, n_ids.reshape(b, m, -1), n_logp.reshape(b, m, -1)


def _pooled_answers(model: nn.Module, history: torch.Tensor, next_items: torch.Tensor, seen: torch.Tensor,
                    pool_ids: torch.Tensor, pool_logp: torch.Tensor, next_len: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The conditional answers of :func:`anticipatory_answer` chosen inside each row's pool (``pool_ids`` and
    their base log-probabilities ``pool_logp``, ``[B, P]``)."""
    b, m = next_items.shape
    if isinstance(model, AppendedScorer):  # score the pool's item vectors only
        vectors = model.item_embedding.weight[pool_ids]
        after = torch.einsum("bmd,bpd->bmp", model.appended_user_vectors(history, next_items), vectors)
    else:
        after = model(seen).reshape(b, m, -1).gather(2, pool_ids.unsqueeze(1).expand(b, m, -1))
    n_ids, n_logp = pooled_top(after.reshape(b * m, -1), pool_ids.repeat_interleave(m, 0),
                               pool_logp.repeat_interleave(m, 0), next_items.reshape(-1), next_len)
    return n_ids.reshape(b, m, -1), n_logp.reshape(b, m, -1)
