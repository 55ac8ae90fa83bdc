"""Confidence intervals for the routing bench's headline numbers: a paired bootstrap over users.

A user's steps are not independent (one held answer serves several of them), so the unit resampled is the
user. Every replicate draws the eval users with replacement once and recomputes every run on that same draw
(never, always, each policy, random): shares of the gap and gain-per-request ratios keep the correlation
between runs, and the interval says how much the number would move with another sample of users.
"""

from __future__ import annotations

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.routing.stream import StreamRun
from tandem.routing.stream_state import ndcg_at


def step_ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """``float64`` NDCG@k of each step from its 0-based rank of the true next item (:func:`ndcg_at`). Pure."""
    return ndcg_at(torch.as_tensor(np.asarray(ranks, dtype=np.int64)), k).numpy()


class PairedBootstrap:
    """``n_boot`` resamples of the users behind ``step_user`` (the user of each step), shared by every run."""

    def __init__(self, step_user: np.ndarray, k: int, *, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> None:
        users = np.asarray(step_user, dtype=np.int64)
        if users.ndim != 1 or users.size == 0 or users.min() < 0:
            raise ConfigError("PairedBootstrap: step_user must be a non-empty 1-D array of user indices >= 0")
        if n_boot < 2 or not 0.0 < level < 1.0:
            raise ConfigError(f"PairedBootstrap: need n_boot >= 2 and 0 < level < 1, got {n_boot}, {level}")
        self.step_user, self.k, self.level = users, k, level
        self.n_users = int(users.max()) + 1
        rng = np.random.default_rng(seed)
        self.weights = rng.multinomial(self.n_users, np.full(self.n_users, 1.0 / self.n_users),
                                       size=n_boot).astype(np.float64)  # [n_boot, n_users]: times each user drawn
        self.steps = self.weights @ np.bincount(users, minlength=self.n_users)

    def _per_user(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.step_user, weights=values, minlength=self.n_users)

    def _steps_of(self, run: StreamRun) -> tuple[np.ndarray, np.ndarray]:
        if run.ranks is None or run.requested is None:
            raise ConfigError(f"PairedBootstrap: run {run.policy!r} kept no per-step ranks (keep_steps=False)")
        if run.ranks.shape != self.step_user.shape:
            raise ConfigError(f"PairedBootstrap: run {run.policy!r} has {run.ranks.size} steps, the users "
                              f"{self.step_user.size}")
        return run.ranks, run.requested

    def quality(self, run: StreamRun) -> np.ndarray:
        """``[n_boot]`` mean NDCG@k of ``run`` on each resample."""
        ranks, _ = self._steps_of(run)
        return self.weights @ self._per_user(step_ndcg(ranks, self.k)) / self.steps

    def rate(self, run: StreamRun) -> np.ndarray:
        """``[n_boot]`` request rate of ``run`` on each resample."""
        _, requested = self._steps_of(run)
        return self.weights @ self._per_user(requested.astype(np.float64)) / self.steps

    def interval(self, replicates: np.ndarray) -> tuple[float, float]:
        """The central ``level`` percentile interval of ``replicates`` (non-finite ones dropped)."""
        x = np.asarray(replicates, dtype=np.float64)
        x = x[np.isfinite(x)]
        if x.size == 0:
            return float("nan"), float("nan")
        tail = 50.0 * (1.0 - self.level)
        lo, hi = np.percentile(x, [tail, 100.0 - tail])
        return float(lo), float(hi)

    def share(self, run: StreamRun, never: StreamRun, always: StreamRun) -> np.ndarray:
        """``[n_boot]`` share of the never->always gap ``run`` recovers on each resample."""
        low = self.quality(never)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.quality(run) - low) / (self.quality(always) - low)

    def gain_ratio(self, run: StreamRun, baseline: StreamRun, never: StreamRun) -> np.ndarray:
        """``[n_boot]`` gain per request of ``run`` over ``baseline``'s (both over ``never``) on each resample."""
        low = self.quality(never)
        with np.errstate(divide="ignore", invalid="ignore"):
            mine = (self.quality(run) - low) / self.rate(run)
            theirs = (self.quality(baseline) - low) / self.rate(baseline)
            return mine / theirs
