"""``confidence``: ask the cloud when the small model is unsure (low top-1 probability or high entropy).

The cascade rule of "big/little" inference (Park et al., "Big/little deep neural network for ultra low
power inference", CODES+ISSS 2015) and of confidence-based LLM routing: the small model answers what it is
sure of and defers the rest.

Threshold semantics (the one tandem uses everywhere, simulator and device agent alike): the policy asks
when the small model's *uncertainty* reaches ``threshold``. With the default ``signal="top1"`` that is
``1 - top1 >= threshold``, so ``threshold=0.2`` asks whenever the top-1 probability is at most 0.8, ``0``
always asks and anything above ``1 - 1/classes`` never does. ``"entropy"`` compares the normalized entropy
(0..1), ``"margin"`` minus the log-probability margin. On a device, :class:`tandem.routing.agent.AgentPolicy`
feeds it a batch of class probabilities.
"""

from __future__ import annotations

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.policy import ThresholdPolicy, register_policy
from tandem.routing.signals import StepSignals

SIGNALS = ("top1", "entropy", "margin")


def uncertainty_score(signals: StepSignals, signal: str = "top1") -> np.ndarray:
    """Uncertainty of the small model, higher = less sure: ``1 - top1``, the entropy, or ``-margin``. Pure."""
    if signal == "top1":
        return 1.0 - np.asarray(signals.confidence, dtype=np.float64)
    if signal == "entropy":
        return np.asarray(signals.entropy, dtype=np.float64)
    if signal == "margin":
        return -np.asarray(signals.margin, dtype=np.float64)
    raise ConfigError(f"uncertainty_score: unknown signal {signal!r}; choose one of {SIGNALS}")


@register_policy
class ConfidencePolicy(ThresholdPolicy):
    """Request when the small model's uncertainty (``signal``) is at least ``threshold`` (module docs)."""

    name = "confidence"

    def __init__(self, threshold: float = 0.9, signal: str = "top1", seed: int = 0) -> None:
        super().__init__(threshold, seed)
        if signal not in SIGNALS:
            raise ConfigError(f"ConfidencePolicy: unknown signal {signal!r}; choose one of {SIGNALS}")
        self.signal = signal

    def scores(self, signals: StepSignals) -> np.ndarray:
        return uncertainty_score(signals, self.signal)
