"""``never``: the device only ever uses its small model (and any answer it already holds); the lower bound."""

from __future__ import annotations

import numpy as np

from tandem.routing.policy import RequestPolicy, register_policy
from tandem.routing.signals import StepSignals


@register_policy
class NeverPolicy(RequestPolicy):
    """Never request the cloud: zero cloud cost, the small model's quality."""

    name = "never"

    def scores(self, signals: StepSignals) -> np.ndarray:
        return np.zeros(len(signals))

    def decide(self, signals: StepSignals) -> np.ndarray:
        return np.zeros(len(signals), dtype=bool)
