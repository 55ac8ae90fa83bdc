"""Routing policies on the real device agent (:class:`tandem.device.agent.DeviceAgent`).

The agent holds a batch of the small model's class probabilities ``[rows, classes]`` and asks
``policy.decide(probs)`` which rows to send to the cloud's large model. :class:`AgentPolicy` is that
hook for any routing policy: it turns the probabilities into :class:`~tandem.routing.signals.StepSignals`
(top-1 probability, entropy and margin; no held cloud answer) and applies an optional per-batch rate cap,
highest priority first. So ``never``, ``always``, ``random``, ``confidence`` and ``learned`` (a value model
fitted on logged decisions) run unchanged on a device; ``periodic`` and ``inconsistency`` need a held
answer and, here, simply see none.

Threshold semantics are the routing family's, one for every context: the ``confidence`` policy asks when
the small model's uncertainty reaches its threshold, ``1 - top1 >= threshold`` for the default ``top1``
signal (:mod:`tandem.routing.policies.confidence`). The agent's default, :data:`AGENT_UNCERTAINTY`
= 0.2, asks when the top-1 probability is at most 0.8.
"""

from __future__ import annotations

import math

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.budget import cap_requests
from tandem.routing.policies.confidence import ConfidencePolicy
from tandem.routing.policy import RequestPolicy
from tandem.routing.signals import StepSignals

AGENT_UNCERTAINTY = 0.2
"""The device agent's default ``confidence`` threshold: ask the cloud when ``1 - top1 >= 0.2``."""


class AgentPolicy:
    """``decide(probs)`` for the device agent, backed by a routing ``policy`` and an optional ``max_rate`` cap."""

    def __init__(self, policy: RequestPolicy, *, max_rate: float | None = None) -> None:
        if not isinstance(policy, RequestPolicy):
            raise ConfigError(f"AgentPolicy: expected a routing RequestPolicy, got {type(policy).__name__}")
        if max_rate is not None and not (math.isfinite(max_rate) and 0.0 <= max_rate <= 1.0):
            raise ConfigError(f"AgentPolicy: max_rate must be in [0, 1], got {max_rate}")
        self.policy, self.max_rate = policy, max_rate

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """``bool [rows]``: which rows the cloud's large model should answer (``probs``: ``[rows, classes]``)."""
        signals = StepSignals.from_probs(np.asarray(probs))  # ConfigError unless finite [rows, classes]
        want = np.asarray(self.policy.decide(signals), dtype=bool)
        if self.max_rate is None:
            return want
        return cap_requests(want, self.policy.scores(signals), math.floor(self.max_rate * want.size))

    def __repr__(self) -> str:
        return f"AgentPolicy({self.policy!r}, max_rate={self.max_rate!r})"


def as_agent_policy(policy: RequestPolicy | AgentPolicy | None = None) -> AgentPolicy:
    """The agent's hook for ``policy``: an :class:`AgentPolicy` as is, a routing policy wrapped, ``None`` the
    default (``confidence`` at :data:`AGENT_UNCERTAINTY`); ConfigError for anything else."""
    if policy is None:
        return AgentPolicy(ConfidencePolicy(threshold=AGENT_UNCERTAINTY))
    return policy if isinstance(policy, AgentPolicy) else AgentPolicy(policy)
