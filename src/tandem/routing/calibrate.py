"""Turning a target request rate into a policy's knob, on calibration users (never the evaluation users).

Stateless policies could be calibrated from a score histogram alone, but most useful policies are not
stateless: a request refreshes the device's answer, which lowers the next steps' scores. So calibration
*simulates*: ``measure(policy) -> rate`` replays the calibration users' streams, and the knob is found by
bisection. For threshold policies the bisection runs over quantile levels of a reference score sample
(:func:`quantile_threshold`), where the measured rate is monotone and well scaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.policy import RequestPolicy, ThresholdPolicy

P = TypeVar("P", bound=RequestPolicy)
T = TypeVar("T", bound=ThresholdPolicy)


def quantile_threshold(scores: np.ndarray, rate: float) -> float:
    """The threshold ``t`` with ``mean(scores >= t)`` closest to ``rate`` from above (finite). Pure.

    ``rate`` 0 gives a threshold above every score; ``rate`` 1 the smallest score.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))[::-1]
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ConfigError("quantile_threshold: need a non-empty sample of finite scores")
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"quantile_threshold: rate must be in [0, 1], got {rate}")
    n = math.ceil(rate * s.size - 1e-9)
    if n <= 0:
        return float(s[0] + max(1.0, abs(s[0])) * 1e-6 + 1e-12)
    return float(s[min(n, s.size) - 1])


@dataclass
class Calibration(Generic[P]):
    """A calibrated policy, the rate it reached on the calibration users and the knob values tried."""

    policy: P
    rate: float
    target: float
    tried: list[tuple[float, float]] = field(default_factory=list)


def calibrate(
    policy: P,
    target: float,
    measure: Callable[[P], float],
    *,
    reference_scores: np.ndarray | None = None,
    tol: float = 0.005,
    max_iter: int = 14,
) -> Calibration[P]:
    """Set ``policy``'s knob so that ``measure`` reports a request rate close to ``target``.

    ``rate`` knobs are set directly; ``period`` knobs try the integers around ``1 / target``; ``threshold``
    knobs bisect over quantile levels of ``reference_scores`` (the policy's scores on a logged sample)
    until the rate is within ``tol`` of ``target`` or ``max_iter`` simulations have run; the closest is kept.
    """
    if not 0.0 < target <= 1.0:
        raise ConfigError(f"calibrate: target rate must be in (0, 1], got {target}")
    if policy.knob is None:
        raise ConfigError(f"calibrate: policy {policy.name!r} has no knob; its rate is what it is")
    tried: list[tuple[float, float, P]] = []

    def trial(value: float) -> float:
        candidate = policy.with_knob(value)
        rate = float(measure(candidate))
        tried.append((value, rate, candidate))
        return rate

    if policy.knob == "rate":  # the knob is the rate itself: nothing to search, nothing to simulate
        return Calibration(policy.with_knob(target), target, target, [(target, target)])
    elif policy.knob == "period":
        base = 1.0 / target
        for period in sorted({max(1, math.floor(base)), max(1, math.ceil(base))}):
            trial(period)
    elif policy.knob == "threshold":
        if reference_scores is None or np.asarray(reference_scores).size == 0:
            raise ConfigError("calibrate: threshold policies need reference_scores (a logged score sample)")
        lo, hi, level = 0.0, 1.0, target
        for _ in range(max_iter):
            rate = trial(quantile_threshold(reference_scores, level))
            if abs(rate - target) <= tol:
                break
            lo, hi = (level, hi) if rate < target else (lo, level)
            level = 0.5 * (lo + hi)
    else:
        raise ConfigError(f"calibrate: unknown knob {policy.knob!r}")
    _value, rate, best = min(tried, key=lambda t: abs(t[1] - target))
    return Calibration(best, rate, target, [(v, r) for v, r, _ in tried])


def calibrate_to_quality(
    policy: T,
    target_share: float,
    measure: Callable[[T], tuple[float, float]],
    *,
    reference_scores: np.ndarray,
    max_rate: float = 1.0,
    max_iter: int = 8,
    rate_tol: float = 0.005,
) -> Calibration[T]:
    """The fewest requests that reach a quality target: set a threshold ``policy``'s knob so that ``measure``
    (``policy -> (request rate, share of the never->always gap recovered)``) reports a share of at least
    ``target_share`` at the lowest rate found, spending at most ``max_rate`` (+ ``rate_tol``).

    A budget is a cap, not a quota: a request-value policy should not spend requests whose predicted value is
    too small to matter. The bisection runs over quantile levels of ``reference_scores``, starting at
    ``max_rate`` (a stateful policy's measured rate differs from the level); the kept trial is the lowest-rate
    one within the cap that reached the target, or, if none did, the one
    within the cap with the highest share (``Calibration.target`` holds ``target_share``; ``tried`` lists
    ``(threshold, rate)``).
    """
    if not 0.0 < target_share <= 1.0:
        raise ConfigError(f"calibrate_to_quality: target_share must be in (0, 1], got {target_share}")
    if not 0.0 < max_rate <= 1.0:
        raise ConfigError(f"calibrate_to_quality: max_rate must be in (0, 1], got {max_rate}")
    if policy.knob != "threshold" or not isinstance(policy, ThresholdPolicy):
        raise ConfigError(f"calibrate_to_quality: policy {policy.name!r} has no threshold knob")
    if np.asarray(reference_scores).size == 0:
        raise ConfigError("calibrate_to_quality: need reference_scores (a logged score sample)")
    tried: list[tuple[float, float, float, T]] = []
    lo, hi, level = 0.0, 1.0, max_rate
    for _ in range(max_iter):
        candidate = policy.with_knob(quantile_threshold(reference_scores, level))
        rate, share = (float(v) for v in measure(candidate))
        tried.append((float(candidate.threshold), rate, share, candidate))
        over = rate > max_rate + rate_tol
        if not over and share < target_share and rate >= max_rate - rate_tol:
            break  # the whole budget misses the target: spend it all
        lo, hi = (lo, level) if over or share >= target_share else (level, hi)
        level = 0.5 * (lo + hi)
    within = [t for t in tried if t[1] <= max_rate + rate_tol] or [min(tried, key=lambda t: t[1])]
    reached = [t for t in within if t[2] >= target_share]
    _value, rate, _share, best = min(reached, key=lambda t: t[1]) if reached else max(within, key=lambda t: t[2])
    return Calibration(best, rate, target_share, [(v, r) for v, r, _, _ in tried])
