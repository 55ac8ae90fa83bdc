"""``random``: request at each step with probability ``rate``: the budget-matched baseline.

Any smarter policy must beat this at the same request rate; the ratio of their gains per request is the
headline number (IntellectReq, Lv et al. WWW 2024, and AdaRequest, Qian et al. KDD 2022, report the same
comparison against random requests).
"""

from __future__ import annotations

import math

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.policy import RequestPolicy, register_policy
from tandem.routing.signals import StepSignals


@register_policy
class RandomBudgetPolicy(RequestPolicy):
    """Request independently with probability ``rate`` in [0, 1] at each device-step."""

    name = "random"
    knob = "rate"

    def __init__(self, rate: float = 0.2, seed: int = 0) -> None:
        super().__init__(seed)
        self._check(rate)
        self.rate = float(rate)

    @staticmethod
    def _check(rate: float) -> None:
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ConfigError(f"RandomBudgetPolicy: rate must be in [0, 1], got {rate}")

    def _set_knob(self, value: float) -> None:
        self._check(value)
        self.rate = float(value)

    def scores(self, signals: StepSignals) -> np.ndarray:
        return np.full(len(signals), self.rate)

    def decide(self, signals: StepSignals) -> np.ndarray:
        return self.rng.random(len(signals)) < self.rate
