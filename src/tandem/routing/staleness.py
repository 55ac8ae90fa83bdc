"""How much a cloud answer is worth as it ages: the per-step quality of holding an answer made ``a`` steps ago.

A device that asks the cloud at step ``s`` ranks steps ``s, s + 1, ...`` with that answer until it asks again,
and the rank at step ``t`` depends only on the answer (made at ``s``) and on step ``t`` itself (its history,
its small-model scores). So one table, ``NDCG@k(step t, answer made at t - a)`` for ``a = 0 .. max_age``
(and without any answer), describes every request schedule at once: the quality of any schedule is a sum of
table entries. The table serves two purposes:

* calibrating an age-aware combiner on the *log* users (:func:`fit_age_weights`: which fusion weight is best
  for an answer of each age), since an old answer fused at a fresh answer's weight can rank worse than the
  small model alone;
* measuring how fast an answer loses its value (:meth:`AgeTable.mean_by_age`) and scoring fixed or hindsight
  schedules offline, without replaying the streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.routing.combine import Combiner, HeldAnswer
from tandem.routing.digest import seen_mask
from tandem.routing.stream import StreamSimulator
from tandem.routing.stream_state import ndcg_at


@dataclass
class AgeTable:
    """``ndcg [n_steps, max_age + 1]``: NDCG@k of each step holding the answer made ``a`` steps earlier
    (NaN where the stream is too short for that age); ``none [n_steps]``: NDCG@k holding no answer."""

    ndcg: np.ndarray
    none: np.ndarray

    @property
    def max_age(self) -> int:
        return int(self.ndcg.shape[1] - 1)

    def mean_by_age(self) -> np.ndarray:
        """``[max_age + 1]`` the mean over the steps where each age exists."""
        return np.nanmean(self.ndcg, axis=0)


@torch.no_grad()
def age_table(sim: StreamSimulator, max_age: int, combiner: Combiner | None = None, *,
              batch_size: int = 2048) -> AgeTable:
    """Score every step of ``sim``'s streams with the answers made ``0 .. max_age`` steps before it.

    ``combiner`` defaults to the simulator's own. The answers come from ``sim.cloud`` (deterministic), the
    ranks from :meth:`Combiner.target_rank`, exactly as the simulator ranks a step holding that answer.
    """
    if max_age < 0:
        raise ConfigError(f"age_table: max_age must be >= 0, got {max_age}")
    comb = combiner or sim.combiner
    s = sim.streams
    n = s.n_steps
    ndcg = np.full((n, max_age + 1), np.nan)
    none = np.zeros(n)
    k_of = np.arange(n) - s.step_offsets[s.step_user]  # step number inside its stream
    for lo in range(0, n, batch_size):
        steps = np.arange(lo, min(n, lo + batch_size))
        users, pos = s.step_user[steps], s.step_position[steps]
        seen = seen_mask(s, steps)
        targets = torch.as_tensor(s.targets(steps))
        n_cand = sim.cloud.n_candidates
        empty = HeldAnswer(torch.zeros(len(steps), n_cand, dtype=torch.int64),
                           torch.full((len(steps), n_cand), float("-inf")), torch.zeros(len(steps), 0,
                           dtype=torch.int64), sim.item_vectors, torch.full((len(steps),), float(max_age + 1)))
        none[steps] = ndcg_at(comb.target_rank(sim._query(steps, targets, empty, seen)), sim.k).numpy()
        for a in range(max_age + 1):
            rows = np.flatnonzero(k_of[steps] >= a)
            if rows.size == 0:
                break
            st = steps[rows]
            ids, logp = sim.cloud.answer(s, st - a)
            sub = seen[torch.as_tensor(rows)]
            held = HeldAnswer(ids, logp.masked_fill(sub.gather(1, ids), float("-inf")),
                              sim._fresh(users[rows], pos[rows], pos[rows] - a), sim.item_vectors,
                              torch.full((rows.size,), float(a)))
            ndcg[st, a] = ndcg_at(comb.target_rank(sim._query(st, targets[torch.as_tensor(rows)], held, sub)),
                                  sim.k).numpy()
    return AgeTable(ndcg, none)


def fit_age_weights(sim: StreamSimulator, max_age: int = 16, grid: Sequence[float] | None = None, *,
                    monotone: bool = True, fresh_weight: float | None = None) -> tuple[tuple[float, ...], np.ndarray]:
    """The best fusion weight for an answer of each age ``0 .. max_age``, measured on ``sim``'s streams.

    For every weight of ``grid`` (default ``0, 0.1, .., 1``) every step is ranked holding the answer made
    ``a`` steps before it (:func:`age_table`); age ``a`` gets the weight with the best mean NDCG@k over the
    steps where that age exists (ages past ``max_age`` share the last one). The rank of a step depends only
    on the weight of its own answer's age, so the ages are fitted independently and the result is the best
    age-aware fusion for *any* request schedule. ``monotone`` makes the weights non-increasing in age (an
    answer never gains value by ageing; this also steadies ages with few steps). ``fresh_weight`` keeps age 0
    at that weight and fits only how it decays (with ``monotone``, no older answer weighs more). Run it on the
    log users, never on the users a policy is evaluated on. Returns ``(weights, mean NDCG [len(grid), max_age + 1])``.
    """
    from tandem.routing.combine import Fusion

    values = np.linspace(0.0, 1.0, 11) if grid is None else np.asarray(grid, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or np.any((values < 0) | (values > 1)):
        raise ConfigError(f"fit_age_weights: grid must be a non-empty list of weights in [0, 1], got {grid}")
    means = np.stack([age_table(sim, max_age, Fusion(float(w))).mean_by_age() for w in values])
    if np.isnan(means).all():
        raise ConfigError("fit_age_weights: the streams have no steps to fit on")
    # ages no stream reaches keep the previous age's weight
    best = [float(values[int(np.nanargmax(col))]) if np.isfinite(col).any() else np.nan for col in means.T]
    weights = np.asarray(best)
    if fresh_weight is not None:
        if not 0.0 <= fresh_weight <= 1.0:
            raise ConfigError(f"fit_age_weights: fresh_weight must be in [0, 1], got {fresh_weight}")
        weights[0] = fresh_weight
    for a in range(1, weights.size):
        if np.isnan(weights[a]):
            weights[a] = weights[a - 1]
    if monotone:
        weights = np.minimum.accumulate(weights)
    return tuple(float(w) for w in weights), means
