"""``inconsistency``: ask the cloud when the small model's fresh top list disagrees with the held cloud answer.

Large/small inconsistency detection: where the device model and the (possibly stale) large model agree,
a new request changes little; where they disagree, the user's interest has probably moved since the answer
was made, or the small model is wrong. With no answer held, inconsistency is maximal. Ties are broken by
the answer's age, so older answers are refreshed first.
"""

from __future__ import annotations

import numpy as np

from tandem.routing.policy import ThresholdPolicy, register_policy
from tandem.routing.signals import NO_CACHE_AGE, StepSignals


def inconsistency_score(overlap: np.ndarray, has_cache: np.ndarray, age: np.ndarray) -> np.ndarray:
    """``1 - overlap`` (1 with no answer held) plus ``1e-3 * age / NO_CACHE_AGE`` to break ties. Pure."""
    overlap = np.where(np.asarray(has_cache, dtype=bool), np.asarray(overlap, dtype=np.float64), 0.0)
    return 1.0 - overlap + 1e-3 * np.minimum(np.asarray(age, dtype=np.float64), NO_CACHE_AGE) / NO_CACHE_AGE


@register_policy
class InconsistencyPolicy(ThresholdPolicy):
    """Request when :func:`inconsistency_score` is at least ``threshold``."""

    name = "inconsistency"

    def __init__(self, threshold: float = 0.5, seed: int = 0) -> None:
        super().__init__(threshold, seed)

    def scores(self, signals: StepSignals) -> np.ndarray:
        return inconsistency_score(signals.overlap, signals.has_cache, signals.age)
