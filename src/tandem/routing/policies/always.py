"""``always``: request the cloud at every step, so every ranking uses a fresh large-model answer; the upper bound."""

from __future__ import annotations

import numpy as np

from tandem.routing.policy import RequestPolicy, register_policy
from tandem.routing.signals import StepSignals


@register_policy
class AlwaysPolicy(RequestPolicy):
    """Request at every step: a request rate of 1 and the best quality the pair of models reaches."""

    name = "always"

    def scores(self, signals: StepSignals) -> np.ndarray:
        return np.ones(len(signals))

    def decide(self, signals: StepSignals) -> np.ndarray:
        return np.ones(len(signals), dtype=bool)
