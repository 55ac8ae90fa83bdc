"""The federated `Strategy` extension point: configure a round, then aggregate what came back.

A strategy never trains and never moves bytes. It tells the client runtime (batched simulator,
sequential fallback, Ray workers or a real device agent) *what* local objective to optimise through
a :class:`LocalObjective`, and turns the returned :class:`ClientResult` list into the next global
parameters. One strategy = one file in ``tandem/federated/strategies/`` registered by name.

Client-side behaviour every runtime must honour, driven only by ``LocalObjective``:

* ``prox_mu`` > 0 adds ``mu/2 * ||w - w_global||^2`` to the local loss (FedProx).
* ``control_variates``: the runtime adds ``c - c_i`` to every local gradient, where ``c`` is
  ``RoundPlan.server_state["c"]`` and ``c_i`` the client's own persistent state; it returns
  ``ClientResult.extra["delta_c"]`` = ``c_i_new - c_i`` computed as in SCAFFOLD option II.
* ``personal_keys``: parameters whose names are listed stay on the device (FedPer heads). The
  runtime keeps a per-client copy, initialised from the global value on first participation, and
  never returns them; aggregation only sees the shared keys.
* ``ditto_lambda`` > 0: besides the global-model update the runtime trains a persistent personal
  model with loss + lambda/2 * ||v - w_global||^2 (Ditto); the personal model is evaluated locally.
* ``report_loss``: the runtime returns ``ClientResult.loss_before`` = mean training loss of the
  received global model on the client's data (needed by q-FedAvg).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from tandem.core.errors import ConfigError

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LocalObjective:
    """What the client runtime optimises locally (see module docstring for the contract)."""

    lr: float = 0.05
    epochs: int = 1
    batch_size: int = 16
    prox_mu: float = 0.0
    control_variates: bool = False
    personal_keys: tuple[str, ...] = ()
    ditto_lambda: float = 0.0
    report_loss: bool = False


@dataclass
class RoundPlan:
    """What the cloud sends for one round: the global parameters and any strategy state clients need."""

    round: int
    params: Params
    objective: LocalObjective
    server_state: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClientResult:
    """One client's reply: its locally trained shared parameters and what the strategy asked for."""

    client_id: int
    n_examples: int
    params: Params
    loss_before: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class of every federated strategy; subclasses set ``name`` and implement ``aggregate``."""

    name: ClassVar[str] = ""

    def __init__(self, objective: LocalObjective | None = None) -> None:
        self.objective = objective or LocalObjective()

    def initialize(self, params: Params) -> None:
        """Create server-side state (momentum buffers, control variates) for these parameters."""

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        """Return the plan of round ``rnd`` (1-based); override to add ``server_state``."""
        return RoundPlan(round=rnd, params=params, objective=self.objective)

    @abstractmethod
    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        """Return the new global parameters from the current ones and the clients' results."""

    def state_dict(self) -> dict[str, Any]:
        """Server-side state for checkpointing (tensors and plain values)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available to :func:`get_strategy` under ``cls.name``."""
    if not cls.name:
        raise ConfigError(f"strategy class {cls.__qualname__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ConfigError(f"strategy name {cls.name!r} is already registered by {_REGISTRY[cls.name]}")
    _REGISTRY[cls.name] = cls
    return cls


def _register_builtins() -> None:
    """Import the built-in strategies and the trust wrappers (robust, central DP, secure aggregation).

    Done lazily, on first lookup, because the wrappers import the strategies package themselves.
    """
    import tandem.federated.privacy
    import tandem.federated.robust
    import tandem.federated.secagg_round
    import tandem.federated.strategies  # noqa: F401


def get_strategy(name: str, **kwargs: Any) -> Strategy:
    """Instantiate the strategy registered as ``name`` with keyword arguments."""
    _register_builtins()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown strategy {name!r}; available: {known}") from None
    return cls(**kwargs)


def available_strategies() -> list[str]:
    """Names of every registered strategy."""
    _register_builtins()

    return sorted(_REGISTRY)
