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
from tandem.routing.combine import Combiner
from tandem.routing.digest import seen_mask
from tandem.routing.stream import StreamSimulator
from tandem.routing.stream_state import ndcg_at


@dataclass
class AgeTable:
    """``ndcg [n_steps, max_age + 1]``: NDCG@k of each step holding the answer made ``a`` steps earlier
    (NaN where the stream is too short for that age); ``none [n_steps]``: NDCG@k holding no answer;
    ``conditional [n_steps, max_age + 1]``: where the device ranked with the cloud's answer conditioned on
    its newest click (:mod:`tandem.routing.anticipate`; all False without anticipation)."""

    ndcg: np.ndarray
    none: np.ndarray
    conditional: np.ndarray | None = None

    @property
    def max_age(self) -> int:
        return int(self.ndcg.shape[1] - 1)

    def mean_by_age(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``[max_age + 1]`` the mean over the steps where each age exists (and ``rows [n_steps, ages]`` holds)."""
        if rows is None:
            return np.nanmean(self.ndcg, axis=0)
        values = np.where(rows, self.ndcg, np.nan)
        seen = np.isfinite(values).any(0)
        out = np.full(values.shape[1], np.nan)
        out[seen] = np.nanmean(values[:, seen], axis=0)
        return out


@torch.no_grad()
def age_table(sim: StreamSimulator, max_age: int, combiner: Combiner | None = None, *,
              batch_size: int = 2048) -> AgeTable:
    """Score every step of ``sim``'s streams with the answers made ``0 .. max_age`` steps before it.

    ``combiner`` defaults to the simulator's own. The answers come from ``sim.cloud`` (deterministic) and are
    resolved as the simulator resolves them (:meth:`StreamSimulator.held_answer`), the ranks from
    :meth:`Combiner.target_rank`, exactly as the simulator ranks a step holding that answer.
    """
    if max_age < 0:
        raise ConfigError(f"age_table: max_age must be >= 0, got {max_age}")
    comb = combiner or sim.combiner
    s = sim.streams
    n = s.n_steps
    ndcg = np.full((n, max_age + 1), np.nan)
    conditional = np.zeros((n, max_age + 1), dtype=bool)
    none = np.zeros(n)
    k_of = np.arange(n) - s.step_offsets[s.step_user]  # step number inside its stream
    n_cand = sim.cloud.n_candidates
    for lo in range(0, n, batch_size):
        steps = np.arange(lo, min(n, lo + batch_size))
        users, pos = s.step_user[steps], s.step_position[steps]
        seen = seen_mask(s, steps)
        targets = torch.as_tensor(s.targets(steps))
        empty = sim.held_answer(users, steps, pos, torch.zeros(len(steps), n_cand, dtype=torch.int64),
                                torch.full((len(steps), n_cand), float("-inf")), np.full(len(steps), -1), seen)
        none[steps] = ndcg_at(comb.target_rank(sim.rank_query(steps, targets, empty, seen)), sim.k).numpy()
        for a in range(max_age + 1):
            rows = np.flatnonzero(k_of[steps] >= a)
            if rows.size == 0:
                break
            st, r = steps[rows], torch.as_tensor(rows)
            ids, logp = sim.cloud.answer(s, st - a)
            held = sim.held_answer(users[rows], st, pos[rows], ids, logp, pos[rows] - a, seen[r])
            ndcg[st, a] = ndcg_at(comb.target_rank(sim.rank_query(st, targets[r], held, seen[r])), sim.k).numpy()
            if held.conditional is not None:
                conditional[st, a] = held.conditional.numpy()
    return AgeTable(ndcg, none, conditional)


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
    With anticipatory answers, the weights are fitted on the steps that rank with the plain list; see
    :func:`fit_fusion_weights` for both kinds at once.
    """
    fitted = fit_fusion_weights(sim, max_age, grid, monotone=monotone, fresh_weight=fresh_weight)
    return fitted.age_weights, fitted.means


@dataclass
class FusionWeights:
    """Fitted fusion weights per answer age: ``age_weights`` for the plain list, ``next_weights`` for answers
    conditioned on the newest click (None without anticipation), ``means [grid, ages]`` NDCG@k of the plain
    list at each weight of the grid and age."""

    age_weights: tuple[float, ...]
    next_weights: tuple[float, ...] | None
    means: np.ndarray


def fit_fusion_weights(sim: StreamSimulator, max_age: int = 16, grid: Sequence[float] | None = None, *,
                       monotone: bool = True, fresh_weight: float | None = None) -> FusionWeights:
    """:func:`fit_age_weights` for both kinds of held answer from one set of :func:`age_table` passes.

    Conditional answers (the cloud's answer after the newest click, :mod:`tandem.routing.anticipate`) exist
    from age 1 on; their age-0 weight copies the plain list's and is never used.
    """
    from tandem.routing.combine import Fusion

    values = np.linspace(0.0, 1.0, 11) if grid is None else np.asarray(grid, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or np.any((values < 0) | (values > 1)):
        raise ConfigError(f"fit_age_weights: grid must be a non-empty list of weights in [0, 1], got {grid}")
    if fresh_weight is not None and not 0.0 <= fresh_weight <= 1.0:
        raise ConfigError(f"fit_age_weights: fresh_weight must be in [0, 1], got {fresh_weight}")
    tables = [age_table(sim, max_age, Fusion(float(w))) for w in values]
    cond = tables[0].conditional if tables[0].conditional is not None else np.zeros_like(tables[0].ndcg, bool)
    means = np.stack([t.mean_by_age(~cond) for t in tables])
    if np.isnan(means).all():
        raise ConfigError("fit_age_weights: the streams have no steps to fit on")
    plain = _best_by_age(means, values, fresh_weight, monotone)
    if not cond.any():
        return FusionWeights(plain, None, means)
    next_means = np.stack([t.mean_by_age(cond) for t in tables])
    next_means[:, 0] = means[:, 0]  # never conditional: start from the plain list's fresh weight
    return FusionWeights(plain, _best_by_age(next_means, values, fresh_weight, monotone), means)


def _best_by_age(means: np.ndarray, values: np.ndarray, fresh_weight: float | None,
                 monotone: bool) -> tuple[float, ...]:
    # ages no stream reaches keep the previous age's weight
    best = [float(values[int(np.nanargmax(col))]) if np.isfinite(col).any() else np.nan for col in means.T]
    weights = np.asarray(best)
    if fresh_weight is not None:
        weights[0] = fresh_weight
    for a in range(1, weights.size):
        if np.isnan(weights[a]):
            weights[a] = weights[a - 1]
    if monotone:
        weights = np.minimum.accumulate(weights)
    return tuple(float(w) for w in weights)
