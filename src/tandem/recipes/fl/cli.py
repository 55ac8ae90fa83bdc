"""``tandem fl``: run a federated simulation from a YAML config (the only place that reads it).

The config is validated by :class:`FLConfig` (pydantic); any mistake is a :class:`ConfigError` naming
the file and the field. Every field is also an option that overrides the file (nested fields joined by
``-``: ``--rounds 5``, ``--strategy-name fedprox``, ``--strategy-kwargs '{"mu": 0.1}'``, ``--local-lr 0.1``).
Example configs live in ``examples/fl/``::

    tandem fl run examples/fl/fedavg_digits.yaml --rounds 5
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem.core.errors import ConfigError, TandemError
from tandem.recipes._options import Overrides, build_config, config_options, fail

fl_app = typer.Typer(name="fl", help="Federated learning (device -> cloud) simulations.", no_args_is_help=True)


@fl_app.callback()
def _fl() -> None:
    """Federated learning (device -> cloud) simulations."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DatasetConfig(_Strict):
    """``digits``, ``wine``, ``breast_cancer``, ``iris`` (scikit-learn's shipped sets) or ``synthetic``."""

    name: Literal["digits", "wine", "breast_cancer", "iris", "synthetic"] = "digits"
    """The data set."""
    test_size: float = Field(0.2, gt=0, lt=1)
    """Share of the rows held out for the global test."""
    standardize: bool | None = Field(None, description="z-score features on the train split (default: not digits)")
    n_features: int = Field(64, ge=1)
    """Synthetic population: features."""
    n_classes: int = Field(10, ge=2)
    """Synthetic population: classes."""
    min_size: int = Field(5, ge=0)
    """Synthetic population: fewest examples of a client."""
    max_size: int = Field(25, ge=1)
    """Synthetic population: most examples of a client."""
    noise: float = Field(1.0, ge=0)
    """Synthetic population: feature noise."""


class PartitionConfig(_Strict):
    kind: Literal["dirichlet", "iid"] = "dirichlet"
    """How the rows are dealt to clients."""
    alpha: float = Field(0.5, gt=0, description="Dirichlet concentration (label skew; small = non-IID)")
    local_eval_fraction: float = Field(0.0, ge=0, lt=1, description="share of each client's rows held out")


class StrategyConfig(_Strict):
    name: str = "fedavg"
    """Registered strategy name (fedavg, fedprox, scaffold, ...)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the strategy."""


class LocalConfig(_Strict):
    lr: float = Field(0.05, gt=0)
    """Clients' local SGD step."""
    epochs: int = Field(1, ge=1)
    """Clients' local epochs per round."""
    batch_size: int = Field(16, ge=1)
    """Clients' local batch size."""


class ModelConfig(_Strict):
    hidden: list[int] = Field(default_factory=lambda: [64])
    """Hidden widths of the MLP."""
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    """Activation between the MLP's layers."""
    seed: int = 0
    """Seed of the initial weights."""


class FleetConfig(_Strict):
    deadline_s: float | None = Field(None, gt=0, description="round deadline; late devices are dropped")
    availability: bool = Field(False, description="select among devices that are online this round")
    dropout: float = Field(0.0, ge=0, lt=1)
    """Chance that a selected device drops out of a round."""
    seed: int = 0
    """Seed of the sampled device profiles."""


class FLConfig(_Strict):
    """One federated run; every field has a default except where noted."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    clients: int = Field(100, ge=1)
    """Clients in the population."""
    per_round: int = Field(10, ge=1)
    """Clients selected per round."""
    rounds: int = Field(50, ge=1)
    """Federated rounds."""
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    fleet: FleetConfig | None = None
    runtime: Literal["auto", "batched", "sequential", "ray"] = "auto"
    """How client training runs."""
    ray_workers: int = Field(2, ge=1)
    """Ray workers (runtime ray)."""
    codec: str | None = "fp32"
    """Codec of the payloads on the wire (None: no encoding)."""
    threads: int | None = Field(
        1, ge=1, description="torch intra-op threads (None: torch's default); per-client tensors are small"
    )
    seed: int = 0
    """Seed of everything random."""
    output: Path = Path("tandem-results/fl.json")
    """Where the metrics JSON goes."""
    checkpoint_dir: Path | None = None
    """Folder of the round checkpoints (None: none)."""
    checkpoint_every: int = Field(1, ge=1)
    """Rounds between checkpoints."""
    resume: bool = False
    """Resume from the last checkpoint in checkpoint_dir."""

    @model_validator(mode="after")
    def _per_round_fits(self) -> FLConfig:
        if self.per_round > self.clients:
            raise ValueError(f"per_round ({self.per_round}) exceeds clients ({self.clients})")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume needs checkpoint_dir")
        return self


def load_config(path: str | Path, overrides: Overrides | None = None) -> FLConfig:
    """Read and validate a YAML config, ``overrides`` (the command's options) on top; ConfigError names the
    file, the option and every bad field."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields, got {type(raw).__name__}")
    return build_config(FLConfig, overrides, base=raw, where=str(path))


def build_simulation(config: FLConfig, *, progress: bool = True) -> Any:
    """The :class:`~tandem.sim.engine.FederatedSimulation` a config describes."""
    import numpy as np
    import torch

    from tandem.data.arrays import train_test_split_indices
    from tandem.data.clients import PartitionedData, SyntheticClients
    from tandem.data.partition import dirichlet_partition, iid_partition
    from tandem.data.sklearn_sets import load_sklearn
    from tandem.federated.strategy import LocalObjective
    from tandem.models.mlp import build_mlp
    from tandem.sim.engine import ClassificationEval, FederatedSimulation
    from tandem.sim.selection import AvailabilitySelector, UniformSelector

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    ds = config.dataset
    if ds.name == "synthetic":
        data = SyntheticClients(
            config.clients, n_features=ds.n_features, n_classes=ds.n_classes, min_size=ds.min_size,
            max_size=ds.max_size, alpha=config.partition.alpha, noise=ds.noise, seed=config.seed,
        )
        x_test, y_test = data.test_set()
        n_features, n_classes = ds.n_features, ds.n_classes
    else:
        arrays = load_sklearn(ds.name)
        x, y = arrays.X.astype(np.float32), arrays.y
        train, test = train_test_split_indices(len(y), test_size=ds.test_size, seed=config.seed)
        if ds.standardize if ds.standardize is not None else ds.name != "digits":
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
    model = build_mlp([n_features, *config.model.hidden, n_classes], config.model.activation)

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

        runtime = RayRuntime(model, data, seed=config.seed, n_workers=config.ray_workers)
    return FederatedSimulation(
        model,
        data,
        strategy,
        rounds=config.rounds,
        clients_per_round=config.per_round,
        selector=selector or UniformSelector(config.seed),
        runtime=runtime,
        evaluate=ClassificationEval(model, x_test, y_test),
        fleet=fleet,
        codec=config.codec,
        seed=config.seed,
        metrics_path=config.output,
        checkpoint_dir=config.checkpoint_dir,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
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
    cls = next(c for c in _subclasses(Strategy) if c.name == name)
    if "n_clients_total" in inspect.signature(cls).parameters:
        kwargs.setdefault("n_clients_total", config.clients)
    try:
        return get_strategy(name, objective=objective, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"strategy.kwargs for {name!r}: {exc}") from None


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@fl_app.command("run")
@config_options(FLConfig)
def run(
    overrides: Overrides,
    config: Annotated[Path, typer.Argument(help="YAML config (see examples/fl/); options override its fields.")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON to stdout.")] = False,
) -> None:
    """Run the federated simulation a YAML config describes; per-round metrics go to its output JSON."""
    from rich.console import Console

    try:
        cfg = load_config(config, overrides)
        sim = build_simulation(cfg, progress=progress and not as_json)
        try:
            result = sim.run(resume=cfg.resume)
        finally:
            if hasattr(sim.runtime, "shutdown"):
                sim.runtime.shutdown()
    except TandemError as exc:
        raise fail(exc) from None
    body = {**result.to_dict(), "config_file": str(config), "settings": cfg.model_dump(mode="json")}
    cfg.output.parent.mkdir(parents=True, exist_ok=True)
    cfg.output.write_text(json.dumps(body, indent=1))
    if as_json:
        typer.echo(json.dumps(body, indent=1))
        return
    last = result.history[-1]
    summary = ", ".join(f"{k} {last[k]:.4f}" for k in ("accuracy", "loss", "local_accuracy") if k in last)
    Console().print(
        f"{cfg.strategy.name}: {cfg.rounds} rounds of {cfg.per_round}/{cfg.clients} clients -> {summary}  "
        f"(wall clock {result.wall_clock_s:.2f} s; metrics in [bold]{cfg.output}[/])"
    )
