"""A user's client, written once: the model, the local data and the loss that devices train with.

The same :class:`ClientApp` runs in the simulator (``FederatedSimulation(app.model, app.data, ...)`` or
``tandem.federate``) and on real devices (``tandem device --app module:object``: each agent serves one or
more clients of ``app.data`` with :class:`tandem.device.AppAgent`). Both train with the one client step
(:mod:`tandem.federated.client`) under the round plan's :class:`~tandem.federated.strategy.LocalObjective`,
so FedAvg, FedProx, SCAFFOLD, FedPer and Ditto behave the same in both.

``module:object`` names either a :class:`ClientApp` or a function returning one; ``--app-arg key=value``
options become the function's keyword arguments (e.g. the path of a config both sides read).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.federated.client_trainer import LossFn


@dataclass
class ClientApp:
    """What a client trains: ``model`` (the architecture; weights come from each round's plan), ``data``
    (a population; a device serves some of its client ids), the mean ``loss_fn(outputs, targets)`` and
    the ``seed`` of the local data order (``default_rng([seed, round, client])``, as in the simulator)."""

    model: nn.Module
    data: ClientData
    loss_fn: LossFn = field(default=F.cross_entropy)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise ConfigError(f"ClientApp.model must be a torch.nn.Module, got {type(self.model).__name__}")
        for name in ("n_clients", "sizes", "round_view"):
            if not hasattr(self.data, name):
                raise ConfigError(f"ClientApp.data must be a ClientData (e.g. PartitionedData); it lacks {name!r}")


def load_app(spec: str, kwargs: Mapping[str, Any] | None = None) -> ClientApp:
    """The :class:`ClientApp` that ``"module:object"`` names (calling ``object(**kwargs)`` if it is a function).

    ConfigError, naming the spec, when the module or object is missing or is not a ClientApp.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--app must look like 'package.module:object', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from None
    target = getattr(module, attribute, None)
    if target is None:
        raise ConfigError(f"--app {spec!r}: module {module_name!r} has no attribute {attribute!r}")
    if kwargs and isinstance(target, ClientApp):
        raise ConfigError(f"--app {spec!r} is a ClientApp, not a function: it takes no --app-arg")
    app = target
    if callable(target) and not isinstance(target, ClientApp):
        try:
            app = target(**dict(kwargs or {}))
        except TypeError as exc:
            given = dict(kwargs or {})
            raise ConfigError(f"--app {spec!r}: calling it with --app-args {given} failed: {exc}") from None
    if not isinstance(app, ClientApp):
        raise ConfigError(f"--app {spec!r} gave a {type(app).__name__}, not a tandem.federated.ClientApp")
    return app
