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

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.sst2 import TextDataset

DEFAULT_RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class TextBenchConfig:
    """Every knob of ``tandem text bench`` (defaults = the published run)."""

    data: str | None = None
    n_labeled: int = 8000
    n_log: int = 3000
    n_user_rows: int = 16000
    n_pool: int | None = None
    n_buckets: int = 2**18
    max_n: int = 2
    head_hidden: int | None = 256
    head_epochs: int = 20
    small_epochs: int = 30
    small_lr: float = 0.05
    distill_epochs: int = 10
    distill_lr: float = 0.02
    budgets: tuple[int, ...] = (1000, 2000, 4000)
    temperature: float = 1.0
    n_users: int = 500
    user_alpha: float = 1.0
    fed_strategy: str = "fedavg"
    fed_rule: str | None = None
    fed_rounds: int = 20
    fed_clients: int = 50
    fed_lr: float = 0.1
    fed_codec: str = "fp16"
    rates: tuple[float, ...] = DEFAULT_RATES
    headline_rate: float = 0.3
    random_repeats: int = 20
    latency_repeats: int = 3
    reference: bool = True
    seed: int = 0
    cache_dir: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("n_labeled", "n_log", "n_user_rows", "n_users", "fed_rounds", "fed_clients", "head_epochs",
                     "small_epochs", "distill_epochs", "random_repeats", "latency_repeats"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TextBenchConfig.{name} must be >= 1, got {getattr(self, name)}")
        if any(not 1 <= b <= self.n_labeled for b in self.budgets):
            raise ConfigError(f"TextBenchConfig.budgets must lie in 1..n_labeled={self.n_labeled}, got {self.budgets}")
        rates = np.asarray(self.rates, dtype=np.float64)
        if rates.size < 2 or np.any(np.diff(rates) <= 0) or rates[0] != 0.0 or rates[-1] != 1.0:
            raise ConfigError(f"TextBenchConfig.rates must ascend strictly from 0 to 1, got {self.rates}")
        if not 0.0 < self.headline_rate < 1.0:
            raise ConfigError(f"TextBenchConfig.headline_rate must be in (0, 1), got {self.headline_rate}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "cache_dir"}


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
    parts = np.split(perm[: cuts[-1]], cuts[:-1])
    return Roles(*(np.sort(p) for p in parts), np.sort(pool))


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


def load_text_data(config: TextBenchConfig, *, encoder: Any = None, progress: bool = False) -> TextData:
    """Load SST-2 train/dev, hash n-grams, and embed both splits with MiniLM (cached; see ``cached_embeddings``)."""
    from tandem.data import load_sst2
    from tandem.text.encoder import DEFAULT_CACHE, cached_embeddings
    from tandem.text.features import HashedNgrams

    train, dev = load_sst2(config.data, split="train"), load_sst2(config.data, split="dev")
    features = HashedNgrams(n_buckets=config.n_buckets, max_n=config.max_n)
    cache = Path(config.cache_dir) if config.cache_dir else DEFAULT_CACHE
    train_emb = cached_embeddings(train.sentences, encoder, cache_dir=cache, progress=progress)
    dev_emb = cached_embeddings(dev.sentences, encoder, cache_dir=cache, progress=progress)
    roles = assign_roles(len(train), n_labeled=config.n_labeled, n_log=config.n_log, n_user_rows=config.n_user_rows,
                         n_pool=config.n_pool, seed=config.seed)
    return TextData(train, dev, features.transform(train.sentences), features.transform(dev.sentences), train_emb,
                    dev_emb, roles)
