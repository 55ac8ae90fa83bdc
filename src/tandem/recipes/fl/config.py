"""The config of ``tandem fl run``: one pydantic model (:class:`FLConfig`) from which the command's options are
derived, and :func:`load_config` that reads a YAML file with the options on top."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tandem.core.errors import ConfigError
from tandem.recipes._datafiles import check_dataset, one_character
from tandem.recipes._options import Overrides, build_config, cli

DATASET_NAMES = ("digits", "wine", "breast_cancer", "iris", "synthetic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DatasetConfig(_Strict):
    """``digits``, ``wine``, ``breast_cancer``, ``iris`` (scikit-learn's shipped sets), ``synthetic``, or your own
    table (``path`` + ``label``). In YAML ``dataset: iris`` and ``dataset: my.csv`` are short for ``name``/``path``."""

    name: Literal["digits", "wine", "breast_cancer", "iris", "synthetic"] = "digits"
    """The data set."""
    path: str | None = Field(None, json_schema_extra=cli("--dataset-path", "--dataset"))
    """Your own table instead: a CSV, TSV or Parquet file with a label column (replaces name; docs/your-data.md)."""
    label: str = "label"
    """Table file: the column of class labels."""
    format: Literal["auto", "csv", "tsv", "parquet"] = "auto"
    """Table file: csv, tsv, parquet (needs pyarrow) or auto (by suffix)."""
    separator: str | None = None
    """Table file: the field separator of a text table (default: from the format)."""
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

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``dataset: iris`` / ``dataset: my.csv`` (a string) stands for ``name`` / ``path``."""
        if isinstance(value, str):
            return {"name": value} if value in DATASET_NAMES else {"path": value}
        return value

    @field_validator("path")
    @classmethod
    def _existing_file(cls, value: str | None) -> str | None:
        if value is not None:
            check_dataset(value, DATASET_NAMES, "a table file (CSV, TSV or Parquet)")
        return value

    @field_validator("separator")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        return one_character(value)

    @model_validator(mode="after")
    def _file_options_need_a_path(self) -> DatasetConfig:
        given = [f for f in ("label", "format", "separator") if f in self.model_fields_set]
        if given and self.path is None:
            raise ValueError(f"{', '.join(given)}: only for a table file; give dataset.path (--dataset PATH) or "
                             f"drop {'them' if len(given) > 1 else 'it'}")
        return self


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
    factory: str | None = None
    """Your own model instead of the MLP: 'package.module:function', called with (input width, classes) and
    returning a torch.nn.Module (the module is imported from PYTHONPATH or the current folder)."""

    @field_validator("factory")
    @classmethod
    def _module_function(cls, value: str | None) -> str | None:
        if value is not None:
            module, sep, function = value.partition(":")
            if not (sep and module and function):
                raise ValueError("must look like 'package.module:function'")
        return value
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
    ray_address: str | None = None
    """Ray cluster to join (runtime ray): "auto", "host:6379" or "ray://host:10001"; None starts a local one."""
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
    transport: Literal["in-process", "http"] = "in-process"
    """in-process: the simulator; http: a real server and device-agent processes on loopback, same rounds."""
    agents: int = Field(2, ge=1, le=64)
    """transport http: device-agent processes (the clients are dealt among them, one agent thread each)."""
    round_timeout_s: float = Field(120.0, gt=0)
    """transport http: longest wait for a round's updates."""

    @model_validator(mode="after")
    def _per_round_fits(self) -> FLConfig:
        if self.per_round > self.clients:
            raise ValueError(f"per_round ({self.per_round}) exceeds clients ({self.clients})")
        if self.ray_address is not None and self.runtime != "ray":
            raise ValueError("ray_address needs runtime: ray")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume needs checkpoint_dir")
        if self.transport == "http" and (self.fleet is not None or self.runtime == "ray" or self.resume):
            raise ValueError(
                "transport http runs real devices: it takes no fleet (simulated time), ray runtime or resume"
            )
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


