"""The request-policy extension point: one base class, one file per policy, a registry by name.

A policy sees a batch of :class:`~tandem.routing.signals.StepSignals` (what each device knows locally) and
returns a boolean mask: which devices ask the cloud's large model now. Policies never see the next item,
the cloud's fresh answer or other devices' signals, so the same object runs in the streaming simulator and
in a device agent (:class:`tandem.routing.agent.AgentPolicy` adapts it to the agent's ``decide(probs)``).

Each policy names one ``knob`` (``threshold``, ``rate`` or ``period``) that sets how often it asks; the
calibration helpers in :mod:`tandem.routing.calibrate` turn a target request rate into a knob value.
"""

from __future__ import annotations

import copy
import importlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.signals import StepSignals

P = TypeVar("P", bound="RequestPolicy")


class RequestPolicy(ABC):
    """Decides, per device-step, whether to request the cloud; subclasses set ``name`` and ``knob``.

    ``scores`` is the policy's request priority (higher = more worth a request); budget controls that must
    drop requests drop the lowest-priority ones first. ``reset`` restores the initial random state, so
    two runs of the same policy with the same seed make the same decisions.
    """

    name: ClassVar[str]
    knob: ClassVar[str | None] = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def reset(self) -> None:
        """Restore the random state to the one after construction."""
        self.rng = np.random.default_rng(self.seed)

    @abstractmethod
    def scores(self, signals: StepSignals) -> np.ndarray:
        """``float64 [B]`` request priority of each row (higher = more worth a request)."""

    @abstractmethod
    def decide(self, signals: StepSignals) -> np.ndarray:
        """``bool [B]``: which rows request the cloud now."""

    def with_knob(self: P, value: float) -> P:
        """A copy of this policy with its rate knob set to ``value`` (ConfigError if it has none)."""
        if self.knob is None:
            raise ConfigError(f"policy {self.name!r} has no rate knob to set")
        clone = copy.deepcopy(self)
        clone._set_knob(float(value))
        clone.reset()
        return clone

    def _set_knob(self, value: float) -> None:
        setattr(self, self.knob or "", value)

    def get_params(self) -> dict[str, Any]:
        """The policy's public parameters (scikit-learn style), for result files."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in ("rng", "model")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class ThresholdPolicy(RequestPolicy):
    """A policy that requests where its score reaches ``threshold`` (the knob)."""

    knob: ClassVar[str | None] = "threshold"

    def __init__(self, threshold: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        if not np.isfinite(threshold):
            raise ConfigError(f"{type(self).__name__}: threshold must be finite, got {threshold}")
        self.threshold = float(threshold)

    def decide(self, signals: StepSignals) -> np.ndarray:
        return self.scores(signals) >= self.threshold


_REGISTRY: dict[str, type[RequestPolicy]] = {}


def register_policy(cls: type[P]) -> type[P]:
    """Class decorator: make ``cls`` available to :func:`get_policy` under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"register_policy: {cls.__name__} needs a non-empty class attribute 'name'")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ConfigError(f"register_policy: a policy named {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


def _load_builtins() -> None:
    importlib.import_module("tandem.routing.policies")


def available_policies() -> list[str]:
    """Names of the registered request policies."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_policy(name: str, **kwargs: Any) -> RequestPolicy:
    """Build a registered policy by name with keyword arguments (``get_policy("periodic", period=5)``)."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown request policy {name!r}; available: {sorted(_REGISTRY)}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"request policy {name!r}: {exc}") from None
