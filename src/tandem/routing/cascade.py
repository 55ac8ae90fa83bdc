"""Cascades: the device's small model answers, a request policy sends some inputs to the cloud's large model.

Measured as in RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
arXiv:2406.18665, 2024): the *performance gap recovered* at a cloud request rate ``r``,
``PGR(r) = (acc(r) - acc_small) / (acc_large - acc_small)``; ``APGR`` is its area over ``r`` in [0, 1]
(0.5 for random routing, whose expected PGR is ``r``), and ``CPT(x)`` the smallest request rate reaching
``PGR >= x``. The device builds :class:`~tandem.routing.signals.StepSignals` from its own class
probabilities, and each policy's knob is calibrated to the target rate on *unlabelled* inputs
(:func:`tandem.routing.calibrate`), so no label of the evaluation set steers the routing.
:func:`cascade_curve` is the short entry point: two models' class probabilities and the labels in, one
:class:`CurvePoint` per request budget out. Any classifier pair fits (text, images, tables).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.calibrate import calibrate
from tandem.routing.policy import RequestPolicy, get_policy
from tandem.routing.signals import StepSignals

DEFAULT_RATES = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
"""Request budgets :func:`cascade_curve` measures unless told otherwise."""


def pgr(acc: float | np.ndarray, acc_small: float, acc_large: float) -> float | np.ndarray:
    """Performance gap recovered, ``(acc - acc_small) / (acc_large - acc_small)``. Pure.

    Raises ``ConfigError`` when the large model is not better than the small one (the gap is undefined).
    """
    gap = float(acc_large) - float(acc_small)
    if not gap > 0:
        raise ConfigError(f"pgr: the large model ({acc_large:.4f}) must beat the small one ({acc_small:.4f})")
    return (np.asarray(acc, dtype=np.float64) - acc_small) / gap if np.ndim(acc) else (float(acc) - acc_small) / gap


def _check_curve(rates: np.ndarray, values: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    r, v = np.asarray(rates, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if r.ndim != 1 or r.shape != v.shape or r.size < 2 or not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        raise ConfigError(f"{where}: need two equal finite 1-D arrays of at least 2 points, got {r.shape}, {v.shape}")
    if np.any(np.diff(r) < 0) or r[0] < 0 or r[-1] > 1:
        raise ConfigError(f"{where}: rates must be ascending within [0, 1]")
    return r, v


def apgr(rates: np.ndarray, pgrs: np.ndarray) -> float:
    """Average PGR: trapezoid area under ``PGR(rate)`` divided by the span of ``rates`` (1 for a 0..1 sweep). Pure."""
    r, v = _check_curve(rates, pgrs, "apgr")
    span = r[-1] - r[0]
    if span <= 0:
        raise ConfigError("apgr: rates must span a positive interval")
    return float(np.sum(np.diff(r) * (v[1:] + v[:-1]) / 2.0) / span)


def cpt(rates: np.ndarray, pgrs: np.ndarray, target: float = 0.5) -> float:
    """Call-performance threshold: smallest rate with ``PGR >= target`` (linear interpolation; nan if never). Pure."""
    r, v = _check_curve(rates, pgrs, "cpt")
    above = np.flatnonzero(v >= target)
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0 or v[i] == v[i - 1]:
        return float(r[i])
    return float(r[i - 1] + (target - v[i - 1]) * (r[i] - r[i - 1]) / (v[i] - v[i - 1]))


def cascade_correct(small_correct: np.ndarray, large_correct: np.ndarray, routed: np.ndarray) -> np.ndarray:
    """Per-row correctness of the cascade: the large model's where ``routed``, the small model's elsewhere. Pure."""
    s, lg, m = (np.asarray(a) for a in (small_correct, large_correct, routed))
    if not (s.shape == lg.shape == m.shape) or s.ndim != 1:
        raise ConfigError(f"cascade_correct: need three equal 1-D arrays, got {s.shape}, {lg.shape}, {m.shape}")
    return np.where(m.astype(bool), lg.astype(bool), s.astype(bool))


def top_rate_mask(scores: np.ndarray, rate: float) -> np.ndarray:
    """``bool [n]``: the ``round(rate * n)`` highest ``scores`` (stable ties), e.g. an oracle's routing. Pure."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not 0.0 <= rate <= 1.0:
        raise ConfigError(f"top_rate_mask: need 1-D scores and a rate in [0, 1], got {s.shape}, {rate}")
    mask = np.zeros(s.shape, dtype=bool)
    mask[np.argsort(-s, kind="stable")[: round(rate * s.size)]] = True
    return mask


@dataclass(frozen=True)
class CurvePoint:
    """One operating point: the rate asked for, the request rate reached, accuracy and PGR."""

    target: float
    rate: float
    accuracy: float
    pgr: float


def calibrated_masks(
    policy: RequestPolicy,
    target: float,
    signals: StepSignals,
    *,
    reference: StepSignals | None = None,
    repeats: int = 1,
) -> list[np.ndarray]:
    """Routing masks of ``policy`` calibrated to ``target`` on ``reference`` (default: ``signals``, unlabelled).

    One mask per seed for policies with a ``rate`` knob (random), else one. ``target`` 0 routes nothing.
    """
    if target <= 0:
        return [np.zeros(len(signals), dtype=bool)]
    ref = signals if reference is None else reference
    tuned = calibrate(
        policy,
        float(target),
        lambda p: float(np.mean(p.decide(ref))),
        reference_scores=policy.scores(ref) if policy.knob == "threshold" else None,
    ).policy
    masks = []
    for k in range(repeats if policy.knob == "rate" else 1):
        run = copy.deepcopy(tuned)
        run.seed = tuned.seed + k
        run.reset()
        masks.append(np.asarray(run.decide(signals), dtype=bool))
    return masks


def policy_curve(
    policy: RequestPolicy,
    signals: StepSignals,
    small_correct: np.ndarray,
    large_correct: np.ndarray,
    rates: np.ndarray,
    *,
    reference: StepSignals | None = None,
    repeats: int = 1,
) -> list[CurvePoint]:
    """Accuracy of the cascade under ``policy`` calibrated to each target rate in ``rates``.

    The knob is calibrated on ``reference`` (unlabelled inputs; default ``signals`` themselves, which uses no
    label), then the policy decides on ``signals``. Random policies are averaged over ``repeats`` seeds.
    """
    small_c, large_c = np.asarray(small_correct, bool), np.asarray(large_correct, bool)
    acc_s, acc_l = float(small_c.mean()), float(large_c.mean())
    points = []
    for target in np.asarray(rates, dtype=np.float64):
        masks = calibrated_masks(policy, float(target), signals, reference=reference, repeats=repeats)
        acc = float(np.mean([cascade_correct(small_c, large_c, m).mean() for m in masks]))
        rate = float(np.mean([m.mean() for m in masks]))
        points.append(CurvePoint(float(target), rate, acc, float(pgr(acc, acc_s, acc_l))))
    return points


def oracle_curve(small_correct: np.ndarray, large_correct: np.ndarray, rates: np.ndarray) -> list[CurvePoint]:
    """The upper bound: route first the rows the small model gets wrong and the large one right."""
    s, lg = np.asarray(small_correct, bool), np.asarray(large_correct, bool)
    gain = lg.astype(np.float64) - s.astype(np.float64)
    out = []
    for r in np.asarray(rates, dtype=np.float64):
        mask = top_rate_mask(gain, float(r))
        acc = float(cascade_correct(s, lg, mask).mean())
        out.append(CurvePoint(float(r), float(mask.mean()), acc, float(pgr(acc, float(s.mean()), float(lg.mean())))))
    return out


def cascade_curve(
    small_probs: np.ndarray,
    large_probs: np.ndarray,
    y: np.ndarray,
    *,
    policy: RequestPolicy | str = "confidence",
    rates: Sequence[float] = DEFAULT_RATES,
    repeats: int = 1,
) -> list[CurvePoint]:
    """Quality vs request rate of the small/large cascade under ``policy``, one point per budget in ``rates``.

    ``small_probs`` and ``large_probs`` are ``[n, classes]`` class probabilities of the device's and the
    cloud's model on the same inputs, ``y`` their labels. The policy sees only the small model's
    probabilities (:meth:`StepSignals.from_probs`); its knob is calibrated to each budget on those
    unlabelled rows. ``policy`` is a :class:`RequestPolicy` or a registered name (``"confidence"``,
    ``"random"``, ...).
    """
    small, large = np.asarray(small_probs, np.float64), np.asarray(large_probs, np.float64)
    labels = np.asarray(y)
    if small.ndim != 2 or small.shape != large.shape or labels.shape != (small.shape[0],):
        raise ConfigError(
            f"cascade_curve: need small_probs and large_probs [n, classes] and y [n], got "
            f"{small.shape}, {large.shape}, {labels.shape}"
        )
    if not (np.isfinite(small).all() and np.isfinite(large).all()):
        raise ConfigError("cascade_curve: the probabilities contain NaN or Inf")
    chosen = get_policy(policy) if isinstance(policy, str) else policy
    small_correct, large_correct = small.argmax(1) == labels, large.argmax(1) == labels
    return policy_curve(
        chosen, StepSignals.from_probs(small), small_correct, large_correct, np.asarray(rates), repeats=repeats
    )
