"""What a ``tandem fl run`` config builds: the task (data + model), the strategy and the simulation.

:func:`build_task` is deterministic in the config, so the cloud and every device agent of an HTTP run
(``recipes/fl/deploy.py``, ``recipes/fl/app.py``) build the same clients and the same initial model.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.recipes.fl.config import FLConfig


@dataclass
class FLTask:
    """The clients, the global test set and the initial model a config describes."""

    data: ClientData
    model: nn.Module
    x_test: np.ndarray | torch.Tensor
    y_test: np.ndarray | torch.Tensor


def build_task(config: FLConfig) -> FLTask:
    """The clients, test set and initial model of ``config`` (the same on every machine)."""
    from tandem.data.arrays import train_test_split_indices
    from tandem.data.clients import PartitionedData, SyntheticClients
    from tandem.data.partition import dirichlet_partition, iid_partition
    from tandem.data.sklearn_sets import load_sklearn
    from tandem.models.mlp import build_mlp

    ds = config.dataset
    data: ClientData
    if ds.name == "synthetic":
        synthetic = SyntheticClients(
            config.clients, n_features=ds.n_features, n_classes=ds.n_classes, min_size=ds.min_size,
            max_size=ds.max_size, alpha=config.partition.alpha, noise=ds.noise, seed=config.seed,
        )
        data = synthetic
        x_test, y_test = synthetic.test_set()
        n_features, n_classes = ds.n_features, ds.n_classes
    else:
        if ds.path is not None:
            from tandem.data.tables import load_table

            arrays = load_table(ds.path, label=ds.label, format=ds.format, sep=ds.separator)
        else:
            arrays = load_sklearn(ds.name)
        x, y = arrays.X.astype(np.float32), arrays.y
        train, test = train_test_split_indices(len(y), test_size=ds.test_size, seed=config.seed)
        if ds.standardize if ds.standardize is not None else (ds.path is not None or ds.name != "digits"):
            mean, std = x[train].mean(0), x[train].std(0)
            x = ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
        if config.partition.kind == "dirichlet":
            parts = dirichlet_partition(y[train], config.clients, config.partition.alpha, config.seed, row_ids=train)
        else:
            parts = iid_partition(train, config.clients, config.seed)
        eval_parts = None
        if config.partition.local_eval_fraction > 0:
            cut = [round(len(p) * (1 - config.partition.local_eval_fraction)) for p in parts]
            eval_parts = [p[c:] for p, c in zip(parts, cut, strict=True)]
            parts = [p[:c] for p, c in zip(parts, cut, strict=True)]
        data = PartitionedData(x, y, parts, eval_parts=eval_parts)
        x_test, y_test = x[test], y[test]
        n_features, n_classes = x.shape[1], arrays.n_classes
    torch.manual_seed(config.model.seed)
    if config.model.factory is not None:
        model = user_model(config.model.factory, int(n_features), int(n_classes))
    else:
        model = build_mlp([n_features, *config.model.hidden, n_classes], config.model.activation)
    return FLTask(data, model, x_test, y_test)


def user_model(spec: str, n_features: int, n_classes: int) -> nn.Module:
    """``spec`` = ``"package.module:function"``, called as ``function(n_features, n_classes)``; must return a Module.

    The module is imported from ``sys.path`` and, failing that, from the current folder. Every failure is a
    one-line :class:`ConfigError` naming ``model.factory``.
    """
    import importlib
    import os
    import sys

    where = f"model.factory {spec!r}"
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"model.factory must look like 'package.module:function', got {spec!r}")
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name) or os.getcwd() in sys.path:
                raise
            sys.path.append(os.getcwd())  # as `python -m` would: a module beside the user's config
            module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module failed to import: say so in one line
        raise ConfigError(f"{where}: cannot import {module_name!r} ({type(exc).__name__}: {exc}); put the module on "
                          "PYTHONPATH or in the current folder") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        found = "has no" if factory is None else "has a non-callable"
        raise ConfigError(f"{where}: module {module_name!r} {found} {attribute!r}; name a function that builds the "
                          "model")
    try:
        model = factory(n_features, n_classes)
    except Exception as exc:  # the user's code: one line, not their traceback
        raise ConfigError(f"{where}: calling it with (n_features={n_features}, n_classes={n_classes}) failed: "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{where}: returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def build_simulation(
    config: FLConfig,
    *,
    progress: bool = True,
    transport: Any = None,
    devices: Any = None,
    addresses: Mapping[int, int] | None = None,
) -> Any:
    """The :class:`~tandem.sim.engine.FederatedSimulation` a config describes (over ``transport`` with
    ``devices`` and ``addresses`` when given: the same rounds against a real server)."""
    from tandem.federated.strategy import LocalObjective
    from tandem.sim.engine import ClassificationEval, FederatedSimulation
    from tandem.sim.selection import AvailabilitySelector, UniformSelector

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    task = build_task(config)
    objective = LocalObjective(lr=config.local.lr, epochs=config.local.epochs, batch_size=config.local.batch_size)
    strategy = _strategy(config, objective)
    fleet = selector = None
    options: dict[str, Any] = {}
    if config.fleet is not None:
        from tandem.fleet import sample_fleet

        fleet = sample_fleet(config.clients, seed=config.fleet.seed)
        if config.fleet.availability:
            selector = AvailabilitySelector(fleet, seed=config.seed)
        options.update(deadline_s=config.fleet.deadline_s, dropout=config.fleet.dropout)
    runtime: Any = config.runtime
    if runtime == "ray":
        from tandem.sim.ray_backend import RayRuntime

        runtime = RayRuntime(
            task.model, task.data, seed=config.seed, n_workers=config.ray_workers, address=config.ray_address
        )
    return FederatedSimulation(
        task.model,
        task.data,
        strategy,
        rounds=config.rounds,
        clients_per_round=config.per_round,
        selector=selector or UniformSelector(config.seed),
        runtime=runtime,
        evaluate=ClassificationEval(task.model, task.x_test, task.y_test),
        fleet=fleet,
        codec=config.codec,
        seed=config.seed,
        metrics_path=config.output,
        checkpoint_dir=config.checkpoint_dir,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
        transport=transport,
        devices=devices,
        addresses=addresses,
        **options,
    )


def _strategy(config: FLConfig, objective: Any) -> Any:
    """The configured strategy; ``n_clients_total`` is filled in from ``clients`` where a strategy takes it."""
    from tandem.federated.strategy import Strategy, available_strategies, get_strategy

    name, kwargs = config.strategy.name, dict(config.strategy.kwargs)
    if name not in available_strategies():
        raise ConfigError(f"strategy.name: unknown strategy {name!r}; available: {', '.join(available_strategies())}")
    if "objective" in kwargs:
        raise ConfigError("strategy.kwargs: set the local objective under 'local:', not strategy.kwargs.objective")
    cls = next(c for c in _subclasses(Strategy) if getattr(c, "name", "") == name)
    if "n_clients_total" in inspect.signature(cls).parameters:
        kwargs.setdefault("n_clients_total", config.clients)
    try:
        return get_strategy(name, objective=objective, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"strategy.kwargs for {name!r}: {exc}") from None


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


