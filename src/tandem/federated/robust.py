"""Byzantine-robust aggregation: pure rules on stacked updates, and a wrapper that adds them to any strategy.

Rules (``U``: ``[K, D]`` float tensor, one flattened client update ``w_k - w_global`` per row):

* :func:`coordinate_median` and :func:`trimmed_mean`: Yin, Chen, Kannan and Bartlett, "Byzantine-Robust
  Distributed Learning: Towards Optimal Statistical Rates", ICML 2018 (median of each coordinate; mean
  of each coordinate after dropping its ``b`` largest and ``b`` smallest values).
* :func:`krum_scores`, :func:`krum`, :func:`multikrum`: Blanchard, El Mhamdi, Guerraoui and Stainer,
  "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017 (score =
  sum of squared distances to the ``K - f - 2`` nearest other updates; Krum keeps the lowest score,
  Multi-Krum averages the ``m`` lowest, as Flower's implementation does).
* :func:`clip_rows`: norm bounding, Sun, Kairouz, Suresh and McMahan, "Can You Really Backdoor Federated
  Learning?", 2019 (every update scaled to L2 norm at most ``C``).

:class:`RobustAggregation` wraps any :class:`~tandem.federated.strategy.Strategy`: it screens each reply
(keys, shapes, NaN/Inf, absurd norms: rejected, counted in ``rejected_``, never aggregated), applies the
rule, and hands the inner strategy either a subset of the replies (Krum, Multi-Krum), clipped replies
(norm clipping) or one robust aggregate reply (median, trimmed mean), so server optimisers such as FedAdam
still apply. It delegates ``configure_round`` and state to the inner strategy, so it runs unchanged in the
simulator and behind the real server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.hooks import update_of, with_update
from tandem.federated.strategies._common import check_results
from tandem.federated.strategy import ClientResult, Params, RoundPlan, Strategy, get_strategy, register_strategy

RULES = ("mean", "median", "trimmed_mean", "krum", "multikrum", "norm_clip")


def _check_stack(updates: torch.Tensor, where: str) -> None:
    if not isinstance(updates, torch.Tensor) or updates.ndim != 2 or updates.shape[0] == 0:
        shape = tuple(updates.shape) if isinstance(updates, torch.Tensor) else type(updates).__name__
        raise ConfigError(f"{where}: expected a non-empty [K, D] tensor of updates, got {shape}")


def coordinate_median(updates: torch.Tensor) -> torch.Tensor:
    """Coordinate-wise median of ``[K, D]`` updates (mean of the two middle values when K is even)."""
    _check_stack(updates, "coordinate_median")
    s = updates.sort(dim=0).values
    K = s.shape[0]
    return s[K // 2] if K % 2 else (s[K // 2 - 1] + s[K // 2]) / 2


def trimmed_mean(updates: torch.Tensor, trim: int) -> torch.Tensor:
    """Coordinate-wise mean after dropping the ``trim`` largest and ``trim`` smallest values (needs K > 2 trim)."""
    _check_stack(updates, "trimmed_mean")
    K = updates.shape[0]
    if not trim >= 0 or 2 * trim >= K:
        raise ConfigError(f"trimmed_mean: trim={trim} must satisfy 0 <= 2*trim < K={K}")
    return updates.sort(dim=0).values[trim : K - trim].mean(dim=0)


def krum_scores(updates: torch.Tensor, f: int) -> torch.Tensor:
    """Krum score of each row: sum of squared distances to its ``K - f - 2`` nearest other rows (K > 2f + 2)."""
    _check_stack(updates, "krum")
    K = updates.shape[0]
    if f < 0 or 2 * f + 2 >= K:
        raise ConfigError(f"krum: needs K > 2f + 2 clients; got K={K}, f={f}")
    d = torch.cdist(updates.double(), updates.double()).pow(2)
    d.fill_diagonal_(math.inf)
    return d.sort(dim=1).values[:, : K - f - 2].sum(dim=1)


def krum(updates: torch.Tensor, f: int) -> int:
    """Index of the update Krum selects (lowest score; ties -> lowest index)."""
    return int(torch.argmin(krum_scores(updates, f)))


def multikrum(updates: torch.Tensor, f: int, m: int) -> list[int]:
    """Indices (ascending) of the ``m`` updates with the lowest Krum scores."""
    scores = krum_scores(updates, f)
    if not 1 <= m <= len(scores):
        raise ConfigError(f"multikrum: m={m} must be in 1..{len(scores)}")
    return sorted(torch.argsort(scores, stable=True)[:m].tolist())


def clip_rows(updates: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Each row scaled by ``min(1, max_norm / ||row||_2)``."""
    _check_stack(updates, "clip_rows")
    if not max_norm > 0:
        raise ConfigError(f"clip_rows: max_norm must be > 0, got {max_norm}")
    norms = updates.norm(dim=1, keepdim=True)
    return updates * torch.clamp(max_norm / norms.clamp_min(1e-12), max=1.0)


def flatten(update: Mapping[str, torch.Tensor], keys: Sequence[str]) -> torch.Tensor:
    return torch.cat([update[k].reshape(-1).to(torch.float32) for k in keys])


def unflatten(vec: torch.Tensor, like: Mapping[str, torch.Tensor], keys: Sequence[str]) -> dict[str, torch.Tensor]:
    parts = torch.split(vec, [like[k].numel() for k in keys])
    return {k: p.reshape(like[k].shape) for k, p in zip(keys, parts, strict=True)}


def screen_update(
    result: ClientResult,
    params: Params,
    *,
    keys: Sequence[str] | None = None,
    max_norm: float | None = None,
    where: str = "screen",
) -> None:
    """Raise :class:`PayloadError` if a reply is malformed (keys, shapes, NaN/Inf) or its update norm > max_norm.

    ``keys``: the shared parameter names the reply must carry (default: all of ``params``). Also usable as
    the real server's ``on_update(result, plan)`` hook via :class:`UpdateScreen`.
    """
    keys = list(params) if keys is None else list(keys)
    check_results(where, 0, params, [result], keys=keys)
    if max_norm is not None:
        norm = float(flatten(update_of(result, params), keys).norm())
        if not norm <= max_norm:
            raise PayloadError(f"{where}: client {result.client_id} sent an update of L2 norm {norm:.4g} > {max_norm}")


class UpdateScreen:
    """``on_update(result, plan)`` hook for :class:`tandem.server.mailbox.ServerTransport`: rejects bad updates."""

    def __init__(self, *, max_norm: float | None = None) -> None:
        self.max_norm = max_norm

    def __call__(self, result: ClientResult, plan: RoundPlan) -> None:
        shared = [k for k in plan.params if k not in set(plan.objective.personal_keys)]
        screen_update(result, plan.params, keys=shared, max_norm=self.max_norm, where="update screen")


@register_strategy
class RobustAggregation(Strategy):
    """Robust rule + update screen around an inner strategy (default FedAvg).

    Parameters
    ----------
    inner:
        The wrapped strategy, or its registered name.
    rule:
        One of ``"mean"`` (screen only), ``"median"``, ``"trimmed_mean"``, ``"krum"``, ``"multikrum"``, ``"norm_clip"``.
    n_byzantine:
        ``f``, the number of malicious clients tolerated per round (Krum, Multi-Krum; trimmed mean trims ``f``
        from each side when ``trim_ratio`` is None).
    trim_ratio:
        Share of clients trimmed from each side by the trimmed mean (``floor(ratio * K)``).
    multikrum_m:
        Updates Multi-Krum averages (default ``K - f``).
    clip_norm:
        ``C`` for ``norm_clip``, or ``"median"``: each round's median update norm (an adaptive bound, in the
        spirit of Andrew et al., "Differentially Private Learning with Adaptive Clipping", NeurIPS 2021,
        at the 0.5 quantile; robust while fewer than half the clients are malicious).
    max_norm:
        Updates with a larger L2 norm are rejected outright (absurd norms), ``None`` = no bound.

    Learned state: ``rejected_`` (one ``{"round", "client", "reason"}`` per rejected reply), ``selected_``
    (client ids kept in the last round by Krum/Multi-Krum).
    """

    name = "robust"

    def __init__(
        self,
        inner: Strategy | str = "fedavg",
        *,
        rule: str = "median",
        n_byzantine: int = 0,
        trim_ratio: float | None = None,
        multikrum_m: int | None = None,
        clip_norm: float | str = 1.0,
        max_norm: float | None = None,
    ) -> None:
        self.inner = get_strategy(inner) if isinstance(inner, str) else inner
        if rule not in RULES:
            raise ConfigError(f"robust: unknown rule {rule!r}; available: {', '.join(RULES)}")
        if n_byzantine < 0:
            raise ConfigError(f"robust: n_byzantine must be >= 0, got {n_byzantine}")
        if trim_ratio is not None and not 0 <= trim_ratio < 0.5:
            raise ConfigError(f"robust: trim_ratio must be in [0, 0.5), got {trim_ratio}")
        if clip_norm != "median" and not (isinstance(clip_norm, int | float) and clip_norm > 0):
            raise ConfigError(f"robust: clip_norm must be > 0 or 'median', got {clip_norm!r}")
        super().__init__(self.inner.objective)
        self.rule, self.n_byzantine, self.trim_ratio = rule, int(n_byzantine), trim_ratio
        self.multikrum_m, self.clip_norm, self.max_norm = multikrum_m, clip_norm, max_norm
        self.name = f"{self.inner.name}+{rule}"  # type: ignore[misc]
        self.rejected_: list[dict[str, Any]] = []
        self.selected_: list[Any] = []

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self.inner.initialize(params, n_clients=n_clients)

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        return self.inner.configure_round(rnd, params)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "rejected": list(self.rejected_)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state.get("inner", {}))
        self.rejected_ = list(state.get("rejected", []))

    def _screen(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> list[ClientResult]:
        kept = []
        shared = [k for k in params if k not in set(self.inner.objective.personal_keys)]
        for r in results:
            try:
                screen_update(r, params, keys=shared, max_norm=self.max_norm, where=self.name)
            except PayloadError as exc:
                self.rejected_.append({"round": rnd, "client": r.client_id, "reason": str(exc)})
                continue
            if r.n_examples > 0:
                kept.append(r)
        return kept

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        kept = self._screen(rnd, params, results)
        if not kept:
            raise ConfigError(
                f"{self.name}: round {rnd}: every client reply was rejected or empty; nothing to aggregate"
            )
        if self.rule == "mean":
            return self.inner.aggregate(rnd, params, kept)
        keys = list(kept[0].params)
        U = torch.stack([flatten(update_of(r, params), keys) for r in kept])
        K, f = U.shape[0], self.n_byzantine
        if self.rule == "norm_clip":
            bound = float(U.norm(dim=1).median()) if self.clip_norm == "median" else float(self.clip_norm)
            clipped = clip_rows(U, max(bound, 1e-12))
            kept = [with_update(r, params, unflatten(u, params, keys)) for r, u in zip(kept, clipped, strict=True)]
            return self.inner.aggregate(rnd, params, kept)
        if self.rule in ("krum", "multikrum"):
            f = min(f, (K - 3) // 2)  # with fewer clients than planned (dropouts) tolerate what K allows
            idx = [krum(U, f)] if self.rule == "krum" else multikrum(U, f, min(self.multikrum_m or K - f, K))
            self.selected_ = [kept[i].client_id for i in idx]
            return self.inner.aggregate(rnd, params, [kept[i] for i in idx])
        if self.rule == "median":
            agg = coordinate_median(U)
        else:
            trim = math.floor(self.trim_ratio * K) if self.trim_ratio is not None else f
            agg = trimmed_mean(U, min(trim, (K - 1) // 2))
        total = sum(r.n_examples for r in kept)
        merged = with_update(ClientResult(-1, total, kept[0].params), params, unflatten(agg, params, keys))
        return self.inner.aggregate(rnd, params, [merged])
