"""Budget control: a global request-rate cap (the cloud's admission control) and per-device token buckets.

A policy says which devices *want* to ask the cloud; a budget decides which of them *may*. Two controls,
usable alone or chained with :class:`BudgetChain`:

* :class:`GlobalRateCap` admits at most ``max_rate`` of the devices active in each step (fractions carry
  over, so the long-run rate is exact), highest policy priority first: the cloud protecting its capacity.
* :class:`TokenBucket` gives each device ``rate`` tokens per step up to ``burst``; a request costs one.
  It bounds every single device's request rate (battery, data plan), the classic token-bucket shaper.

The arithmetic is in pure functions (:func:`token_bucket_step`, :func:`cap_requests`) tested by hand.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from tandem.core.errors import ConfigError


def token_bucket_step(tokens: np.ndarray, want: np.ndarray, rate: float, burst: float) -> tuple[np.ndarray, np.ndarray]:
    """One step of token buckets: refill by ``rate`` (capped at ``burst``), then spend 1 per allowed request.

    Returns ``(allowed [B] bool, tokens_after [B])``; ``tokens`` is not modified. Pure.
    """
    tok = np.minimum(np.asarray(tokens, dtype=np.float64) + rate, burst)
    allowed = np.asarray(want, dtype=bool) & (tok >= 1.0 - 1e-12)
    return allowed, tok - allowed


def cap_requests(want: np.ndarray, priority: np.ndarray, max_count: int) -> np.ndarray:
    """Keep at most ``max_count`` of the wanting rows, highest ``priority`` first (ties: lower index). Pure."""
    want = np.asarray(want, dtype=bool)
    if int(want.sum()) <= max_count:
        return want.copy()
    idx = np.flatnonzero(want)
    keep = idx[np.argsort(-np.asarray(priority, dtype=np.float64)[idx], kind="stable")[: max(max_count, 0)]]
    allowed = np.zeros_like(want)
    allowed[keep] = True
    return allowed


@runtime_checkable
class Budget(Protocol):
    """Anything that filters wanted requests: ``reset`` before a run, ``filter`` once per step."""

    def reset(self, n_devices: int) -> None: ...

    def filter(self, devices: np.ndarray, want: np.ndarray, priority: np.ndarray) -> np.ndarray: ...


class TokenBucket:
    """Per-device token buckets: ``rate`` tokens per step, at most ``burst`` held, starting with ``initial``."""

    def __init__(self, rate: float = 0.2, burst: float = 2.0, initial: float | None = None) -> None:
        if not (math.isfinite(rate) and 0.0 < rate <= 1.0):
            raise ConfigError(f"TokenBucket: rate must be in (0, 1] tokens per step, got {rate}")
        if not (math.isfinite(burst) and burst >= 1.0):
            raise ConfigError(f"TokenBucket: burst must be >= 1 (one request's cost), got {burst}")
        start = burst if initial is None else initial
        if not (math.isfinite(start) and 0.0 <= start <= burst):
            raise ConfigError(f"TokenBucket: initial tokens must be in [0, burst], got {start}")
        self.rate, self.burst, self.initial = float(rate), float(burst), float(start)
        self.tokens_ = np.zeros(0)

    def reset(self, n_devices: int) -> None:
        self.tokens_ = np.full(int(n_devices), self.initial - self.rate)  # the first step's refill restores it

    def filter(self, devices: np.ndarray, want: np.ndarray, priority: np.ndarray) -> np.ndarray:
        dev = np.asarray(devices)
        if dev.size and (dev.min() < 0 or dev.max() >= self.tokens_.size):
            raise ConfigError(f"TokenBucket: device index outside 0..{self.tokens_.size - 1} (call reset first)")
        if np.unique(dev).size != dev.size:
            raise ConfigError("TokenBucket: a device appears twice in one step")
        allowed, self.tokens_[dev] = token_bucket_step(self.tokens_[dev], want, self.rate, self.burst)
        return allowed


class GlobalRateCap:
    """Admit at most ``max_rate`` of each step's active devices (fractional remainders carry over)."""

    def __init__(self, max_rate: float = 0.2) -> None:
        if not (math.isfinite(max_rate) and 0.0 <= max_rate <= 1.0):
            raise ConfigError(f"GlobalRateCap: max_rate must be in [0, 1], got {max_rate}")
        self.max_rate = float(max_rate)
        self.carry_ = 0.0

    def reset(self, n_devices: int) -> None:
        self.carry_ = 0.0

    def filter(self, devices: np.ndarray, want: np.ndarray, priority: np.ndarray) -> np.ndarray:
        quota = self.max_rate * len(want) + self.carry_
        allowed = cap_requests(want, priority, math.floor(quota + 1e-9))
        self.carry_ = min(quota - float(allowed.sum()), 1.0)  # unused quota carries over, at most one request
        return allowed


class BudgetChain:
    """Apply several budgets in order; a request must pass all of them."""

    def __init__(self, *budgets: Budget) -> None:
        for b in budgets:
            if not isinstance(b, Budget):
                raise ConfigError(f"BudgetChain: {type(b).__name__} is not a Budget (needs reset and filter)")
        self.budgets = budgets

    def reset(self, n_devices: int) -> None:
        for b in self.budgets:
            b.reset(n_devices)

    def filter(self, devices: np.ndarray, want: np.ndarray, priority: np.ndarray) -> np.ndarray:
        allowed = np.asarray(want, dtype=bool)
        for b in self.budgets:
            allowed = b.filter(devices, allowed, priority)
        return allowed
