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

Keyword arguments, scikit-learn style: every strategy whose ``__init__`` takes ``objective`` also takes the
shorthands ``lr``, ``epochs`` and ``batch_size`` (``FedAvg(lr=0.05, epochs=1, batch_size=16)``), folded into
its :class:`LocalObjective` by this base class, so no subclass repeats them. What the run already knows is
not a constructor argument: the engine passes the population size to
``initialize(params, n_clients=N)``, which every strategy accepts (an override written without
``n_clients`` still works; the base class drops the argument for it).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
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


OBJECTIVE_SHORTHANDS = ("lr", "epochs", "batch_size")
"""The :class:`LocalObjective` fields every strategy also takes as keyword arguments."""


def _check_shorthand(owner: str, name: str, value: Any) -> float | int:
    """``lr`` must be a finite number > 0; ``epochs`` and ``batch_size`` ints >= 1 (ConfigError otherwise)."""
    if name == "lr":
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (number and math.isfinite(float(value)) and float(value) > 0):
            raise ConfigError(f"{owner}: lr must be a finite number > 0, got {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ConfigError(f"{owner}: {name} must be an int >= 1, got {value!r}")
    return int(value)


def objective_with(owner: str, objective: LocalObjective | None, **shorthands: Any) -> LocalObjective | None:
    """``objective`` with the given ``lr`` / ``epochs`` / ``batch_size`` set (``None`` values are skipped).

    A shorthand that contradicts a field ``objective`` already sets to a non-default value is a
    :class:`ConfigError`; with no shorthand given, ``objective`` is returned as it came (even ``None``).
    """
    given: dict[str, Any] = {k: _check_shorthand(owner, k, v) for k, v in shorthands.items() if v is not None}
    if not given:
        return objective
    if objective is not None and not isinstance(objective, LocalObjective):
        raise ConfigError(f"{owner}: objective must be a LocalObjective, got {type(objective).__name__}")
    base = objective if objective is not None else LocalObjective()
    default = LocalObjective()
    for key, value in given.items():
        current = getattr(base, key)
        if current != getattr(default, key) and current != value:
            raise ConfigError(f"{owner}: {key}={value!r} conflicts with objective.{key}={current!r}")
    return dataclasses.replace(base, **given)


def _accepts(func: Callable[..., Any], name: str) -> bool:
    params = inspect.signature(func).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _with_shorthands(init: Callable[..., None], owner: str) -> Callable[..., None]:
    """Wrap a subclass ``__init__(..., objective=...)`` so it also takes ``lr``, ``epochs``, ``batch_size``."""

    @functools.wraps(init)
    def init_with_shorthands(self: Strategy, *args: Any, **kwargs: Any) -> None:
        shorthands = {k: kwargs.pop(k) for k in OBJECTIVE_SHORTHANDS if k in kwargs}
        if shorthands:
            kwargs["objective"] = objective_with(owner, kwargs.get("objective"), **shorthands)
        init(self, *args, **kwargs)

    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    extra = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=t)
        for k, t in (("lr", "float | None"), ("epochs", "int | None"), ("batch_size", "int | None"))
    ]
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    init_with_shorthands.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=params[:at] + extra + params[at:]
    )
    return init_with_shorthands


def _with_population(initialize: Callable[..., None]) -> Callable[..., None]:
    """Wrap an ``initialize(params)`` override written before ``n_clients`` so the engine may pass it."""

    @functools.wraps(initialize)
    def wrapper(self: Strategy, params: Params, *, n_clients: int | None = None) -> None:
        initialize(self, params)

    return wrapper


class Strategy(ABC):
    """Base class of every federated strategy; subclasses set ``name`` and implement ``aggregate``.

    Subclasses whose ``__init__`` takes ``objective`` automatically also take ``lr``, ``epochs`` and
    ``batch_size`` (module docstring).
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        taken = inspect.signature(init).parameters if init is not None else {}
        if init is not None and "objective" in taken and not any(k in taken for k in OBJECTIVE_SHORTHANDS):
            cls.__init__ = _with_shorthands(init, cls.name or cls.__name__)  # type: ignore[method-assign]
        initialize = cls.__dict__.get("initialize")
        if initialize is not None and not _accepts(initialize, "n_clients"):
            cls.initialize = _with_population(initialize)  # type: ignore[method-assign]

    def __init__(self, objective: LocalObjective | None = None) -> None:
        self.objective = objective or LocalObjective()

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        """Create server-side state (momentum buffers, control variates) for these parameters.

        ``n_clients`` is the size of the client population, which the engine knows and passes (``None``
        where unknown); strategies that need it (SCAFFOLD's ``N``) read it here.
        """

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
