"""Plugging routing policies into the real device agent (:class:`tandem.device.agent.DeviceAgent`).

The agent's hook (:class:`tandem.device.policy.RequestPolicy`) is ``decide(probs) -> bool mask`` over a batch
of the small model's class probabilities. :class:`AgentPolicy` wraps any routing policy to that shape: it
turns the probabilities into :class:`~tandem.routing.signals.StepSignals` (top-1 probability, entropy and
margin; no held cloud answer) and applies an optional per-batch rate cap, highest priority first. So
``never``, ``always``, ``random``, ``confidence`` and ``learned`` (a value model fitted on logged
decisions) run unchanged on a device; ``periodic`` and ``inconsistency`` need a held answer and, here,
simply see none.
"""

from __future__ import annotations

import math

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.budget import cap_requests
from tandem.routing.policy import RequestPolicy
from tandem.routing.signals import StepSignals


class AgentPolicy:
    """``decide(probs)`` for the device agent, backed by a routing ``policy`` and an optional ``max_rate`` cap."""

    def __init__(self, policy: RequestPolicy, *, max_rate: float | None = None) -> None:
        if not isinstance(policy, RequestPolicy):
            raise ConfigError(f"AgentPolicy: expected a routing RequestPolicy, got {type(policy).__name__}")
        if max_rate is not None and not (math.isfinite(max_rate) and 0.0 <= max_rate <= 1.0):
            raise ConfigError(f"AgentPolicy: max_rate must be in [0, 1], got {max_rate}")
        self.policy, self.max_rate = policy, max_rate

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """``bool [rows]``: which rows the cloud's large model should answer."""
        signals = StepSignals.from_probs(np.asarray(probs))
        want = np.asarray(self.policy.decide(signals), dtype=bool)
        if self.max_rate is None:
            return want
        return cap_requests(want, self.policy.scores(signals), math.floor(self.max_rate * want.size))
