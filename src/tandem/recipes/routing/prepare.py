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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from tandem.data.movielens import load_movielens_100k
from tandem.data.paths import dataset_dir
from tandem.data.sequences import SequenceDataset, load_s3rec
from tandem.data.synthetic import make_synthetic_fleet
from tandem.fleet.sampling import sample_fleet
from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_data import leave_one_out_split
from tandem.models.seqrec_training import fit_seqrec
from tandem.recipes._datafiles import (
    INTERACTION_FILE_FIELDS,
    InteractionFileFields,
    check_dataset,
    check_file_options,
    dataset_label,
    load_interaction_file,
)
from tandem.recipes._options import RecipeConfig, cli
from tandem.routing.anticipate import Anticipation
from tandem.routing.combine import get_combiner
from tandem.routing.scorers import CloudTable, FactorizedDevice, ModelCloud
from tandem.routing.staleness import fit_fusion_weights
from tandem.routing.stream import StreamSimulator
from tandem.routing.streams import Streams, UserSplit, split_users

DATASETS = ("ml-100k", "beauty", "synthetic")


class RouteBenchConfig(RecipeConfig, InteractionFileFields):
    """Knobs of ``tandem route bench`` (defaults are the published run)."""

    dataset: str = "ml-100k"
    """The data set whose users' streams are replayed: ml-100k, beauty, synthetic, or the path of your own
    interaction log (CSV/TSV, RecBole .inter, S3-Rec .txt; see docs/your-data.md)."""
    data_root: str | None = None
    """Data root (default: $TANDEM_DATA or ../shared/data)."""
    arch: Literal["sasrec", "gru4rec"] = "sasrec"
    """Architecture of both the large and the small model."""
    max_len: int = Field(50, ge=1)
    """Longest history a model reads."""
    n_candidates: int = Field(100, ge=1)
    """Candidates in each cloud answer."""
    anticipate: int = Field(300, ge=0)
    """Anticipated clicks per cloud answer: the cloud also sends its answer after each of its top N items (0: the
    candidate list alone)."""
    anticipate_len: int = Field(30, ge=1)
    """Candidates in each anticipated answer."""
    anticipate_pool: int = Field(0, ge=0)
    """Choose each anticipated answer among the cloud's best P items for the history alone (fewer cloud FLOPs on a
    large catalogue); 0: among every item."""
    combiner: Literal["small", "cloud", "fusion", "rerank"] = "fusion"
    """How the device combines its own ranking with the cloud's answer."""
    fusion_weight: float = Field(0.5, ge=0.0, le=1.0)
    """Weight of the cloud in fusion."""
    fusion_age_fit: Literal["all", "stale", "off"] = "all"
    """Fusion: fit the cloud's weight per answer age on the log users: all (every age), stale (ages >= 1; fresh
    answers keep fusion_weight) or off (one weight for all ages)."""
    fusion_max_age: int = Field(16, ge=0)
    """Fusion: oldest answer age with its own weight."""
    rates: tuple[float, ...] = Field((0.05, 0.1, 0.2, 0.3, 0.5), min_length=1)
    """Target request rates of the curve, each strictly between 0 and 1."""
    policies: tuple[str, ...] = ("periodic", "random", "confidence", "inconsistency", "learned")
    """Policies to calibrate."""
    log_rates: tuple[float, ...] = Field((0.05, 0.1, 0.2, 0.3, 0.5), min_length=1)
    """Random request rates logged on the log users to train the value model, each in (0, 1]."""
    value_horizon: int = Field(8, ge=1)
    """Steps over which a request's gain is counted."""
    value_discount: float = Field(0.8, gt=0.0, le=1.0)
    """Discount per step of a request's later gains."""
    value_members: int = Field(5, ge=1)
    """Networks averaged in the value model."""
    value_rounds: int = Field(2, ge=1)
    """Fits of the value model: the first on random logs, each further one adds the learned policy's own logs."""
    value_refit_rate: float = Field(0.2, gt=0.0, lt=1.0)
    """Request rate the learned policy is calibrated to while logging its own data for a refit."""
    calibrate_iters: int = Field(6, ge=1)
    """Most replays of the log users when calibrating a policy to a rate."""
    quality_targets: tuple[float, ...] = Field((0.8, 0.85, 0.9), json_schema_extra=cli("--quality-target"))
    """Also calibrate the learned policy to these shares of the never->always gap (fewest requests, on log users),
    each in (0, 1]; empty: skip."""
    quality_cap: float = Field(0.2, gt=0.0, le=1.0)
    """Request-rate cap of the quality-target runs."""
    quality_iters: int = Field(7, ge=1)
    """Most replays of the log users when calibrating to a quality target."""
    comparison_rate: float = Field(0.2, gt=0.0, lt=1.0)
    """Request rate of the budget-control rows and of the combiners' random-policy column."""
    bootstrap: int = Field(1000, ge=1)
    """Resamples of the paired bootstrap behind every interval."""
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    """Shares of the users in the train, log and eval roles."""
    epochs: int = Field(200, ge=1)
    """Most training epochs per model."""
    patience: int = Field(5, ge=1)
    """Epochs without validation gain before a model's training stops."""
    max_train_seconds: float = Field(1200.0, ge=1.0, json_schema_extra=cli("--train-seconds"))
    """Wall-clock budget of each model's training."""
    max_users: int | None = Field(None, ge=10)
    """Cap log and eval users (quick runs)."""
    synthetic_users: int = Field(3000, ge=10)
    """Users of the synthetic data set."""
    cloud_gflops: float = Field(1000.0, gt=0)
    """The cloud's compute, for its latency."""
    k: int = Field(10, ge=1)
    """Cut-off of NDCG@k and HR@k."""
    seed: int = 0
    """Seed of everything random."""
    cache_dir: str | None = None
    """Trained-model cache (default of ``tandem route bench``: <out>/cache)."""

    @field_validator("dataset")
    @classmethod
    def _known_or_file(cls, value: str) -> str:
        return check_dataset(value, DATASETS, "an interaction file")

    @property
    def dataset_name(self) -> str:
        """The data set's short name (a file's stem), for result files and caches."""
        return dataset_label(self.dataset)

    @model_validator(mode="after")
    def _consistent(self) -> RouteBenchConfig:
        check_file_options(self, DATASETS, INTERACTION_FILE_FIELDS)
        if any(not 0.0 < r < 1.0 for r in self.rates):
            raise ValueError(f"rates must lie strictly between 0 and 1, got {self.rates}")
        if any(not 0.0 < r <= 1.0 for r in self.log_rates):
            raise ValueError(f"log_rates must lie in (0, 1], got {self.log_rates}")
        if any(not 0.0 < q <= 1.0 for q in self.quality_targets):
            raise ValueError(f"quality targets must lie in (0, 1], got {self.quality_targets}")
        if self.anticipate_pool and self.anticipate_pool < self.anticipate_len:
            raise ValueError(f"anticipate_pool must be 0 (every item) or >= anticipate_len ({self.anticipate_len}), "
                             f"got {self.anticipate_pool}")
        return self


def load_dataset(config: RouteBenchConfig) -> SequenceDataset:
    """The benchmark's sequences: MovieLens-100k, Amazon Beauty (S3-Rec) or the synthetic fleet."""
    if config.dataset == "synthetic":
        return make_synthetic_fleet(config.synthetic_users, n_items=1000, seq_len=50, min_seq_len=10,
                                    seed=config.seed).sequences
    if config.dataset == "ml-100k":
        return load_movielens_100k(dataset_dir("movielens-100k", config.data_root)).to_sequences()
    if config.dataset == "beauty":
        return load_s3rec(dataset_dir("amazon-s3rec", config.data_root))
    return load_interaction_file(config.dataset, config)


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
    key = f"{config.dataset_name}-{config.arch}-{size}-{_fingerprint(train, **params)}"
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
    info: dict[str, Any] = {
        "large": {**large_info, "config": large.config(), "flops_per_request": large.flops_per_example()},
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
