"""The device-cloud cascade: the small model answers, a request policy decides which inputs go to the large model.

Quality is measured as in RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
arXiv:2406.18665, 2024): the *performance gap recovered* at a cloud request rate ``r``,
``PGR(r) = (acc(r) - acc_small) / (acc_large - acc_small)``; ``APGR`` is its area over ``r`` in [0, 1]
(0.5 for random routing, whose expected PGR is ``r``), and ``CPT(x)`` the smallest request rate reaching
``PGR >= x``. Policies come from :mod:`tandem.routing` (confidence, learned request value, random at budget):
the device builds :class:`~tandem.routing.signals.StepSignals` from its own class probabilities, and each
policy's knob is calibrated to the target rate on a reference sample of *unlabelled* inputs
(:func:`tandem.routing.calibrate`), so no label of the evaluation set steers the routing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing import RequestPolicy, StepSignals, calibrate, feature_matrix, fit_request_value, get_policy


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


def calibrated_masks(policy: RequestPolicy, target: float, signals: StepSignals, *,
                     reference: StepSignals | None = None, repeats: int = 1) -> list[np.ndarray]:
    """Routing masks of ``policy`` calibrated to ``target`` on ``reference`` (default: ``signals``, unlabelled).

    One mask per seed for policies with a ``rate`` knob (random), else one. ``target`` 0 routes nothing.
    """
    if target <= 0:
        return [np.zeros(len(signals), dtype=bool)]
    ref = signals if reference is None else reference
    tuned = calibrate(policy, float(target), lambda p: float(np.mean(p.decide(ref))),
                      reference_scores=policy.scores(ref) if policy.knob == "threshold" else None).policy
    masks = []
    for k in range(repeats if policy.knob == "rate" else 1):
        run = copy.deepcopy(tuned)
        run.seed = tuned.seed + k
        run.reset()
        masks.append(np.asarray(run.decide(signals), dtype=bool))
    return masks


def policy_curve(policy: RequestPolicy, signals: StepSignals, small_correct: np.ndarray, large_correct: np.ndarray,
                 rates: np.ndarray, *, reference: StepSignals | None = None, repeats: int = 1) -> list[CurvePoint]:
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


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
                     ) -> tuple[float, float, float]:
    """``(mean(a - b), lo, hi)``: percentile bootstrap CI of a paired difference of per-row scores. Pure.

    Rows (sentences) are resampled together, so the CI accounts for both systems seeing the same inputs
    (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993; Koehn, EMNLP 2004, for its use in NLP).
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0 or n_boot < 1 or not 0 < level < 1:
        raise ConfigError(f"paired_bootstrap: need equal non-empty 1-D arrays, n_boot >= 1, 0 < level < 1; got "
                          f"{x.shape}, {y.shape}, {n_boot}, {level}")
    d = x - y
    idx = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(1)
    tail = (1 - level) / 2 * 100
    return float(d.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


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


def fit_learned_policy(small_probs: np.ndarray, small_correct: np.ndarray, large_correct: np.ndarray, *,
                       seed: int = 0, **fit_kwargs: Any) -> RequestPolicy:
    """IntellectReq-style learned request value, fitted on logged rows (not the evaluation rows).

    The regression target is what a request would have gained on each logged row,
    ``large_correct - small_correct`` in {-1, 0, 1}; the inputs are the device's local signals.
    """
    features = feature_matrix(StepSignals.from_probs(small_probs))
    gains = np.asarray(large_correct, np.float32) - np.asarray(small_correct, np.float32)
    model, _ = fit_request_value(features, gains, seed=seed, **fit_kwargs)
    return get_policy("learned", model=model, seed=seed)


def curve_record(name: str, points: list[CurvePoint], y: str = "accuracy") -> dict[str, Any]:
    """One ``RunResult.curves`` entry (x = measured request rate) from a list of points."""
    return {"name": name, "x": "request_rate", "y": y,
            "points": [{"x": p.rate, "y": p.accuracy, "label": f"target {p.target:.0%}, PGR {p.pgr:.2f}"}
                       for p in points]}
