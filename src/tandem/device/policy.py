"""The request-policy hook: which inputs a device sends to the cloud's large model.

This is the seam the routing package (``tandem.routing``: never/always/periodic/random-at-budget/
confidence/inconsistency/learned request value policies) plugs into: any object with
``decide(probs) -> bool mask`` works, in the simulator and in :class:`~tandem.device.agent.DeviceAgent`
alike. :class:`ConfidencePolicy` is the simple default kept here until routing lands.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from tandem.core.errors import ConfigError


@runtime_checkable
class RequestPolicy(Protocol):
    """Decides, per input row, whether to ask the cloud."""

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """``probs``: the small model's class probabilities ``[rows, classes]``; returns a bool mask ``[rows]``."""
        ...


class ConfidencePolicy:
    """Ask the cloud when the small model's top probability is below ``threshold`` (1.0: always; 0.0: never)."""

    def __init__(self, threshold: float = 0.8) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"ConfidencePolicy: threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs)
        if probs.ndim != 2:
            raise ConfigError(f"ConfidencePolicy: probs must be [rows, classes], got shape {probs.shape}")
        return probs.max(axis=1) < self.threshold
