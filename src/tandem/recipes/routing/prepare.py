"""Everything the routing benchmark needs before any policy runs: data, the user split, the two models
(trained once and cached on disk), and the simulators of the log users and the evaluation users.

The cloud's large model and the device's small model are SASRec (Kang & McAuley, ICDM 2018) or GRU4Rec
(Hidasi et al., ICLR 2016) at tandem's named ``large`` / ``small`` sizes (:data:`tandem.models.seqrec.SIZES`),
trained on the *train* users only, early-stopped on those users' validation items. The *log* users' streams
train and calibrate the policies (and, with ``fusion_age_fit``, the fusion weight of each answer age:
:func:`tandem.routing.staleness.fit_age_weights`); the *eval* users' streams measure them. No user is in two roles.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.data.movielens import load_movielens_100k
from tandem.data.paths import dataset_dir
from tandem.data.sequences import SequenceDataset, load_s3rec
from tandem.data.synthetic import make_synthetic_fleet
from tandem.fleet.sampling import sample_fleet
from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_data import leave_one_out_split
from tandem.models.seqrec_training import fit_seqrec
from tandem.routing.anticipate import Anticipation
from tandem.routing.combine import get_combiner
from tandem.routing.scorers import CloudTable, FactorizedDevice, ModelCloud
from tandem.routing.staleness import fit_fusion_weights
from tandem.routing.stream import StreamSimulator
from tandem.routing.streams import Streams, UserSplit, split_users

DATASETS = ("ml-100k", "beauty", "synthetic")
AGE_FIT = ("all", "stale", "off")
"""Fusion weight by answer age, fitted on the log users: for every age, for ages >= 1 only (age 0 keeps
``fusion_weight``), or not at all (one weight for every age)."""


@dataclass
class RouteBenchConfig:
    """Knobs of ``tandem route bench`` (defaults are the published run)."""

    dataset: str = "ml-100k"
    data_root: str | None = None
    arch: str = "sasrec"
    max_len: int = 50
    n_candidates: int = 100
    anticipate: int = 300
    anticipate_len: int = 30
    anticipate_pool: int = 0
    combiner: str = "fusion"
    fusion_weight: float = 0.5
    fusion_age_fit: str = "all"
    fusion_max_age: int = 16
    rates: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
    policies: tuple[str, ...] = ("periodic", "random", "confidence", "inconsistency", "learned")
    log_rates: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
    value_horizon: int = 8
    value_discount: float = 0.8
    value_members: int = 5
    quality_targets: tuple[float, ...] = (0.8, 0.85, 0.9)
    quality_cap: float = 0.2
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    epochs: int = 200
    patience: int = 5
    max_train_seconds: float = 1200.0
    max_users: int | None = None
    synthetic_users: int = 3000
    cloud_gflops: float = 1000.0
    k: int = 10
    seed: int = 0
    cache_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"route bench: unknown dataset {self.dataset!r}; choose from {DATASETS}")
        if not self.rates or any(not 0.0 < r < 1.0 for r in self.rates):
            raise ConfigError(f"route bench: rates must lie strictly between 0 and 1, got {self.rates}")
        if any(not 0.0 < r <= 1.0 for r in self.log_rates) or not self.log_rates:
            raise ConfigError(f"route bench: log_rates must lie in (0, 1], got {self.log_rates}")
        if self.value_horizon < 1 or not 0.0 < self.value_discount <= 1.0:
            raise ConfigError(f"route bench: need value_horizon >= 1 and 0 < value_discount <= 1, got "
                              f"{self.value_horizon}, {self.value_discount}")
        if any(not 0.0 < q <= 1.0 for q in self.quality_targets) or not 0.0 < self.quality_cap <= 1.0:
            raise ConfigError(f"route bench: quality targets must lie in (0, 1] and quality_cap in (0, 1], got "
                              f"{self.quality_targets}, {self.quality_cap}")
        if self.value_members < 1:
            raise ConfigError(f"route bench: value_members must be >= 1, got {self.value_members}")
        if self.fusion_age_fit not in AGE_FIT:
            raise ConfigError(f"route bench: fusion_age_fit must be one of {AGE_FIT}, got {self.fusion_age_fit!r}")
        if self.fusion_max_age < 0:
            raise ConfigError(f"route bench: fusion_max_age must be >= 0, got {self.fusion_max_age}")
        if self.anticipate < 0 or self.anticipate_len < 1:
            raise ConfigError(f"route bench: need anticipate >= 0 and anticipate_len >= 1, got {self.anticipate}, "
                              f"{self.anticipate_len}")
        if self.anticipate_pool and self.anticipate_pool < self.anticipate_len:
            raise ConfigError(f"route bench: anticipate_pool must be 0 (every item) or >= anticipate_len "
                              f"({self.anticipate_len}), got {self.anticipate_pool}")
        if self.max_users is not None and self.max_users < 10:
            raise ConfigError(f"route bench: max_users must be >= 10, got {self.max_users}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def load_dataset(config: RouteBenchConfig) -> SequenceDataset:
    """The benchmark's sequences: MovieLens-100k, Amazon Beauty (S3-Rec) or the synthetic fleet."""
    if config.dataset == "synthetic":
        return make_synthetic_fleet(config.synthetic_users, n_items=1000, seq_len=50, min_seq_len=10,
                                    seed=config.seed).sequences
    if config.dataset == "ml-100k":
        return load_movielens_100k(dataset_dir("movielens-100k", config.data_root)).to_sequences()
    return load_s3rec(dataset_dir("amazon-s3rec", config.data_root))


def _subsample(ds: SequenceDataset, n: int | None, seed: int) -> SequenceDataset:
    if n is None or ds.n_users <= n:
        return ds
    rows = np.sort(np.random.default_rng(seed).choice(ds.n_users, n, replace=False))
    return SequenceDataset.from_sequences([ds.sequence(int(r)) for r in rows], ds.n_items, ds.user_ids[rows])


def _fingerprint(ds: SequenceDataset, **params: Any) -> str:
    h = hashlib.sha256(ds.items.tobytes() + ds.offsets.tobytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:16]


def trained_model(config: RouteBenchConfig, train: SequenceDataset, size: str, *, progress: bool = False
                  ) -> tuple[SequentialRecommender, dict[str, Any]]:
    """A ``size`` model trained on ``train`` (loaded from ``config.cache_dir`` when trained before)."""
    torch.manual_seed(config.seed)
    model = build_seqrec(config.arch, train.n_items, config.max_len, size)
    params = {"arch": config.arch, "size": size, "max_len": config.max_len, "seed": config.seed,
              "epochs": config.epochs, "patience": config.patience, "config": model.config(),
              "max_train_seconds": config.max_train_seconds}  # a model cut short by a budget is another model
    key = f"{config.dataset}-{config.arch}-{size}-{_fingerprint(train, **params)}"
    path = Path(config.cache_dir) / f"{key}.pt" if config.cache_dir else None
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state"])
        return model.eval(), {**json.loads(saved["info"]), "cached": True}
    split = leave_one_out_split(train, config.max_len)
    fit = fit_seqrec(model, split.train, split, epochs=config.epochs, patience=config.patience,
                     max_seconds=config.max_train_seconds, seed=config.seed, progress=progress,
                     description=f"train {size} {config.arch}")
    info = {"best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run, "train_seconds": round(fit.seconds, 1),
            "stopped": fit.stopped, "valid": {k: v for k, v in fit.best_metrics.items() if "@" in k}}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": model.state_dict(), "info": json.dumps(info)}, path)
    return model.eval(), {**info, "cached": False}


@dataclass
class BenchSetup:
    """The prepared benchmark: the split, both models, and a simulator for the log and the eval users."""

    config: RouteBenchConfig
    split: UserSplit
    large: SequentialRecommender
    small: SequentialRecommender
    model_info: dict[str, Any]
    log_sim: StreamSimulator
    eval_sim: StreamSimulator


def simulator(config: RouteBenchConfig, seqs: SequenceDataset, large: SequentialRecommender,
              small: SequentialRecommender, *, seed: int, progress: bool = False) -> StreamSimulator:
    """A simulator over ``seqs`` with precomputed device vectors and cloud answers (both models run once)."""
    streams = Streams(seqs)
    device = FactorizedDevice.precompute(small, streams, progress=progress)
    # one pass of the large model: the held lists are the first n_candidates of its ranking, the anticipated
    # clicks the first ``anticipate``
    wide = CloudTable.precompute(ModelCloud(large, max(config.n_candidates, config.anticipate), config.max_len),
                                 streams, progress=progress)
    n = config.n_candidates
    cloud = CloudTable(wide.ids[:, :n].contiguous(), wide.logp[:, :n].contiguous(), wide.flops_per_request,
                       wide.max_len)
    combiner = get_combiner("fusion", weight=config.fusion_weight) if config.combiner == "fusion" \
        else get_combiner(config.combiner)
    anticipation = Anticipation(large, streams, config.anticipate, config.anticipate_len, max_len=config.max_len,
                                pool=config.anticipate_pool or None, ranked=wide.ids,
                                progress=progress) if config.anticipate else None
    return StreamSimulator(streams, device, cloud, combiner=combiner, fleet=sample_fleet(max(seqs.n_users, 1),
                           seed=seed), k=config.k, cloud_gflops=config.cloud_gflops, seed=seed, progress=progress,
                           anticipation=anticipation)


def prepare(config: RouteBenchConfig, *, progress: bool = False) -> BenchSetup:
    """Load, split by user, train (or load) both models, and build the log and eval simulators."""
    split = split_users(load_dataset(config), config.fractions, seed=config.seed)
    split = UserSplit(split.train, _subsample(split.log, config.max_users, config.seed + 1),
                      _subsample(split.eval, config.max_users, config.seed + 2))
    large, large_info = trained_model(config, split.train, "large", progress=progress)
    small, small_info = trained_model(config, split.train, "small", progress=progress)
    info = {"large": {**large_info, "config": large.config(), "flops_per_request": large.flops_per_example()},
            "small": {**small_info, "config": small.config(), "flops_per_step": small.flops_per_example()},
            "users": {"train": split.train.n_users, "log": split.log.n_users, "eval": split.eval.n_users}}
    log_sim = simulator(config, split.log, large, small, seed=config.seed + 1, progress=progress)
    eval_sim = simulator(config, split.eval, large, small, seed=config.seed + 2, progress=progress)
    if config.combiner == "fusion" and config.fusion_age_fit != "off":
        # the cloud's weight per answer age, fitted on the log users only; every simulator then uses it
        fresh = config.fusion_weight if config.fusion_age_fit == "stale" else None
        fitted = fit_fusion_weights(log_sim, config.fusion_max_age, fresh_weight=fresh)
        info["fusion_age_weights"] = list(fitted.age_weights)
        if fitted.next_weights is not None:
            info["fusion_next_weights"] = list(fitted.next_weights)
        aged = get_combiner("fusion", weight=config.fusion_weight, age_weights=fitted.age_weights,
                            next_weights=fitted.next_weights)
        log_sim, eval_sim = log_sim.with_combiner(aged), eval_sim.with_combiner(aged)
    return BenchSetup(config, split, large, small, info, log_sim, eval_sim)
