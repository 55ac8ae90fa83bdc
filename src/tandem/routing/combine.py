"""How a device ranks with what it holds: the combiner extension point (small only, cloud list, fusion, re-rank).

A combiner has two faces that must agree:

* :meth:`Combiner.combine` — what a real device runs: the small model's log-probabilities over the whole
  catalogue (``[B, n_items + 1]``, already-clicked items ``-inf``) plus the held cloud answer
  (:class:`HeldAnswer`) in, one score per item out; the device shows the top of that ranking.
* :meth:`Combiner.target_rank` — what the simulator runs: the 0-based rank of the clicked item under that
  same ranking, computed from a :class:`RankQuery` (the small model's top ``T`` log-probabilities from the
  step digest plus the candidates' scores) in ``O(candidates)`` per step. It is exact whenever the rank is
  below ``T - N - 1`` (so below ``k`` with ``T >= k + N + 1``) and otherwise some value at least that large.
  Ties count against the target, as in :func:`tandem.models.ranking.rank_of_target`.

Fusion can weigh the cloud by the held answer's age (:attr:`HeldAnswer.age`; weights fitted on logged streams by
:mod:`tandem.routing.staleness`). The maths of fusion and re-ranking lives in :mod:`tandem.routing.fusion` and
:mod:`tandem.routing.rerank`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import torch

from tandem.core.errors import ConfigError
from tandem.routing.fusion import fuse_log_probs
from tandem.routing.rerank import fresh_click_similarity, rerank_scores

SHOWN_FIRST = 1e4
"""Added to the scores of the cloud's candidates by list-based combiners, so they rank above everything else."""


@dataclass
class HeldAnswer:
    """The cloud answer each device holds: candidate ``ids``/``logp`` ``[B, N]`` (``-inf`` = empty or clicked),
    the ``fresh`` clicks since it was made ``[B, M]`` (0 = none), the device's ``item_vectors`` if any, the
    answer's ``age`` ``[B]`` in steps since it was made (None: unknown, treated as fresh), and ``conditional``
    ``[B]`` (bool) where ids/logp are the cloud's answer conditioned on the device's newest click
    (:mod:`tandem.routing.anticipate`; None: no row is)."""

    ids: torch.Tensor
    logp: torch.Tensor
    fresh: torch.Tensor
    item_vectors: torch.Tensor | None = None
    age: torch.Tensor | None = None
    conditional: torch.Tensor | None = None


@dataclass
class RankQuery:
    """One step per row, for :meth:`Combiner.target_rank` (``-inf`` marks clicked or missing entries).

    Fields: ``target [B]`` item clicked next; ``target_small [B]`` its small-model log-prob; ``top_small [B, T]``
    the small model's best log-probs, sorted descending; ``n_unseen [B]`` items not clicked yet; ``held`` the
    cloud answer; ``cand_small [B, N]`` the small model's log-probs of the held candidates.
    """

    target: torch.Tensor
    target_small: torch.Tensor
    top_small: torch.Tensor
    n_unseen: torch.Tensor
    held: HeldAnswer
    cand_small: torch.Tensor

    @cached_property
    def valid(self) -> torch.Tensor:
        """Candidates that can be shown: sent by the cloud and not clicked yet."""
        h = self.held
        return torch.isfinite(h.logp) & torch.isfinite(self.cand_small) & (h.ids > 0)

    @cached_property
    def target_in(self) -> torch.Tensor:
        """``[B, N]`` whether each entry is the (showable) target."""
        return self.valid & (self.held.ids == self.target.view(-1, 1))

    def noncandidates_at_least(self, x: torch.Tensor) -> torch.Tensor:
        """Unseen items outside the valid candidates, other than the target, with small log-prob >= ``x``."""
        # the target is judged by its digest log-prob (the source of ``top_small``), never by ``cand_small``:
        # the two can differ in the last bit, which would count it once too often or too rarely
        everything = (self.top_small >= x.view(-1, 1)).sum(1)
        target = torch.isfinite(self.target_small) & (self.target_small >= x)
        others = (self.valid & ~self.target_in & (self.cand_small >= x.view(-1, 1))).sum(1)
        return (everything - target.long() - others).clamp_min(0)


def _weight_table(values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    table = tuple(float(w) for w in values)
    if not table or any(not 0.0 <= w <= 1.0 for w in table):
        raise ConfigError(f"Fusion: {what} must be a non-empty list of values in [0, 1], got {values}")
    return table


def _by_age(table: tuple[float, ...], age: torch.Tensor) -> torch.Tensor:
    """Each row's entry of a per-age table (ages past its end take the last entry)."""
    t = torch.tensor(table)
    return t[age.to(torch.float64).clamp(0, len(t) - 1).round().long()]


def _missed(q: RankQuery, rank: torch.Tensor) -> torch.Tensor:
    """Targets the device cannot show (clicked before: a repeat) rank behind everything."""
    return torch.where(torch.isfinite(q.target_small), rank, q.n_unseen + 1)


class Combiner(ABC):
    """Scores every item from the small model's fresh log-probabilities and the held cloud answer."""

    name: ClassVar[str]

    @abstractmethod
    def combine(self, small_logp: torch.Tensor, held: HeldAnswer) -> torch.Tensor:
        """``[B, n_items + 1]`` scores (higher first); ``-inf`` where ``small_logp`` is ``-inf``."""

    @abstractmethod
    def target_rank(self, q: RankQuery) -> torch.Tensor:
        """0-based rank ``[B]`` of ``q.target`` under :meth:`combine`'s ranking (exact while small)."""

    def get_params(self) -> dict[str, Any]:
        return dict(vars(self))


def _list_first(small_logp: torch.Tensor, held: HeldAnswer, cand_scores: torch.Tensor) -> torch.Tensor:
    """Candidates (by ``cand_scores``) above every other item (by the small model); clicked items stay excluded.

    Computed in float64 so that the ``SHOWN_FIRST`` offset does not round nearby candidate scores together.
    """
    out = small_logp.double()
    valid = torch.isfinite(cand_scores) & (held.ids > 0)
    rows = valid.nonzero(as_tuple=True)
    out[rows[0], held.ids[rows]] = SHOWN_FIRST + cand_scores[rows].double()
    return torch.where(torch.isfinite(small_logp), out, small_logp.double())


def _list_first_rank(q: RankQuery, cand_scores: torch.Tensor) -> torch.Tensor:
    valid, hit = q.valid, q.target_in
    t_score = torch.where(hit, cand_scores, torch.zeros_like(cand_scores)).sum(1)
    inside = (valid & ~hit & (cand_scores >= t_score.view(-1, 1))).sum(1)
    outside = valid.sum(1) + q.noncandidates_at_least(q.target_small)
    return _missed(q, torch.where(hit.any(1), inside, outside))


class SmallOnly(Combiner):
    """Ignore the cloud: the small model's own ranking (what ``never`` shows)."""

    name = "small"

    def combine(self, small_logp: torch.Tensor, held: HeldAnswer) -> torch.Tensor:
        return small_logp

    def target_rank(self, q: RankQuery) -> torch.Tensor:
        return _missed(q, (q.top_small >= q.target_small.view(-1, 1)).sum(1) - 1)


class CloudList(Combiner):
    """Show the held cloud list as the cloud ordered it (minus clicked items), then the small model's items."""

    name = "cloud"

    def combine(self, small_logp: torch.Tensor, held: HeldAnswer) -> torch.Tensor:
        return _list_first(small_logp, held, held.logp)

    def target_rank(self, q: RankQuery) -> torch.Tensor:
        return _list_first_rank(q, q.held.logp)


class Fusion(Combiner):
    """Score fusion over the whole catalogue: ``(1 - w) * small + w * cloud`` log-probabilities.

    With ``age_weights`` the cloud's weight depends on how old the held answer is: an answer ``a`` steps old
    is fused with ``age_weights[min(a, len(age_weights) - 1)]`` (``weight`` applies when the age is unknown).
    A fresh answer knows the next click best; an old one was made for an earlier position of the stream and
    the fresh small model, which has seen the clicks since, deserves more say. The weights are fitted on
    logged streams by :func:`tandem.routing.staleness.fit_age_weights`. ``next_weights`` does the same for
    answers conditioned on the newest click (:attr:`HeldAnswer.conditional`), which age differently.
    """

    name = "fusion"

    def __init__(self, weight: float = 0.5, age_weights: Sequence[float] | None = None,
                 next_weights: Sequence[float] | None = None) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"Fusion: weight must be in [0, 1], got {weight}")
        self.weight = float(weight)
        self.age_weights = _weight_table(age_weights, "age_weights")
        self.next_weights = _weight_table(next_weights, "next_weights")

    def weights(self, held: HeldAnswer) -> torch.Tensor:
        """``[B]`` the cloud's weight for each row's held answer (by its age and kind where tables are set)."""
        out = torch.full((held.ids.shape[0],), self.weight)
        if held.age is None:
            return out
        if self.age_weights is not None:
            out = _by_age(self.age_weights, held.age)
        if self.next_weights is not None and held.conditional is not None and bool(held.conditional.any()):
            out = torch.where(held.conditional, _by_age(self.next_weights, held.age), out)
        return out

    def combine(self, small_logp: torch.Tensor, held: HeldAnswer) -> torch.Tensor:
        return fuse_log_probs(small_logp, held.ids, held.logp, self.weights(held))

    def target_rank(self, q: RankQuery) -> torch.Tensor:
        valid, hit = q.valid, q.target_in
        w = self.weights(q.held).to(q.held.logp.dtype)
        has, t_in, full = valid.any(1), hit.any(1), w >= 1.0
        w2 = w.view(-1, 1)
        zero = torch.zeros_like(q.held.logp)
        floor = torch.where(valid, q.held.logp, torch.full_like(zero, float("inf"))).min(1).values
        fused = (1 - w2) * torch.where(valid, q.cand_small, zero) + w2 * torch.where(valid, q.held.logp, zero)
        t_cloud = torch.where(t_in, torch.where(hit, q.held.logp, zero).sum(1), floor)
        t_fused = (1 - w) * q.target_small + w * t_cloud
        inside = (valid & ~hit & (fused >= t_fused.view(-1, 1))).sum(1)
        # w < 1: a non-candidate j scores (1 - w) * small_j + w * floor, at least t_fused iff small_j >= x
        x = torch.where(t_in, (t_fused - w * floor) / (1 - w).clamp_min(1e-12), q.target_small)
        outside = q.noncandidates_at_least(x)
        if bool(full.any()):  # w = 1: every non-candidate scores the floor
            n_out = q.n_unseen - valid.sum(1) - (~t_in).long()
            outside = torch.where(full, torch.where(floor >= t_cloud, n_out, torch.zeros_like(n_out)), outside)
        rank = torch.where(has, inside + outside, SmallOnly().target_rank(q))
        return _missed(q, rank)


class Rerank(Combiner):
    """EdgeRec-style: the held candidates re-ranked by cloud score, fresh small score and fresh-click similarity."""

    name = "rerank"

    def __init__(self, cloud_weight: float = 1.0, small_weight: float = 1.0, click_weight: float = 1.0) -> None:
        if min(cloud_weight, small_weight) < 0:
            raise ConfigError("Rerank: cloud_weight and small_weight must be >= 0")
        self.cloud_weight, self.small_weight, self.click_weight = float(cloud_weight), float(small_weight), \
            float(click_weight)

    def _scores(self, held: HeldAnswer, small_on: torch.Tensor) -> torch.Tensor:
        if held.item_vectors is not None and self.click_weight:
            sim = fresh_click_similarity(held.ids, held.fresh, held.item_vectors)
        else:
            sim = torch.zeros_like(held.logp)
        return rerank_scores(held.logp, small_on, sim, (self.cloud_weight, self.small_weight, self.click_weight))

    def combine(self, small_logp: torch.Tensor, held: HeldAnswer) -> torch.Tensor:
        return _list_first(small_logp, held, self._scores(held, small_logp.gather(1, held.ids)))

    def target_rank(self, q: RankQuery) -> torch.Tensor:
        return _list_first_rank(q, self._scores(q.held, q.cand_small))


_COMBINERS: dict[str, type[Combiner]] = {c.name: c for c in (SmallOnly, CloudList, Fusion, Rerank)}


def available_combiners() -> list[str]:
    return sorted(_COMBINERS)


def get_combiner(name: str, **kwargs: Any) -> Combiner:
    """Build a combiner by name (``small``, ``cloud``, ``fusion``, ``rerank``) with keyword arguments."""
    if name not in _COMBINERS:
        raise ConfigError(f"unknown combiner {name!r}; available: {available_combiners()}")
    try:
        return _COMBINERS[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"combiner {name!r}: {exc}") from None
