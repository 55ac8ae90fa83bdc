"""``periodic``: refresh the cloud answer every ``period`` steps (and at once when none is held).

The classic fixed-interval refresh of on-device recommendation (EdgeRec's cloud list is re-fetched on
page requests; Gong et al., CIKM 2020): its request rate is about ``1 / period`` whatever the user does.
"""

from __future__ import annotations

import math

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.policy import RequestPolicy, register_policy
from tandem.routing.signals import StepSignals


@register_policy
class PeriodicPolicy(RequestPolicy):
    """Request when the held answer is ``period`` or more steps old (``period`` 1 = always)."""

    name = "periodic"
    knob = "period"

    def __init__(self, period: int = 5, seed: int = 0) -> None:
        super().__init__(seed)
        self._check(period)
        self.period = int(period)

    @staticmethod
    def _check(period: float) -> None:
        if not math.isfinite(period) or period < 1:
            raise ConfigError(f"PeriodicPolicy: period must be >= 1, got {period}")

    def _set_knob(self, value: float) -> None:
        self._check(value)
        self.period = max(1, round(value))

    def scores(self, signals: StepSignals) -> np.ndarray:
        return np.asarray(signals.age, dtype=np.float64)

    def decide(self, signals: StepSignals) -> np.ndarray:
        return ~np.asarray(signals.has_cache, dtype=bool) | (np.asarray(signals.age) >= self.period)
