"""The device-cloud cascade: the small model answers, a request policy decides which inputs go to the large model.

Quality is measured as in RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
arXiv:2406.18665, 2024): the *performance gap recovered* at a cloud request rate ``r``,
``PGR(r) = (acc(r) - acc_small) / (acc_large - acc_small)``; ``APGR`` is its area over ``r`` in [0, 1]
(0.5 for random routing, whose expected PGR is ``r``), and ``CPT(x)`` the smallest request rate reaching
``PGR >= x``. Policies come from :mod:`tandem.routing` (confidence, learned request value, random at budget):
the device builds :class:`~tandem.routing.signals.StepSignals` from its own class probabilities, and each
policy's knob is calibrated to the target rate on a reference sample of *unlabelled* inputs
(:func:`tandem.routing.calibrate`), so no label of the evaluation set steers the routing. The generic maths
(PGR, APGR, CPT, calibrated policy curves) lives in :mod:`tandem.routing.cascade`; this module adds what the
text bench needs on top (paired bootstrap, the learned policy from logged rows, result-file records).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing import RequestPolicy, StepSignals, feature_matrix, fit_request_value, get_policy
from tandem.routing.cascade import (  # noqa: F401  (the generic cascade maths, re-exported where text code finds it)
    CurvePoint,
    apgr,
    calibrated_masks,
    cascade_correct,
    cpt,
    oracle_curve,
    pgr,
    policy_curve,
    top_rate_mask,
)


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
