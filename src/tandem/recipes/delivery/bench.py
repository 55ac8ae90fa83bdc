"""``tandem delivery bench``: every way the cloud puts a recommender on a device, side by side in one run.

For one data set (the embedded synthetic default, MovieLens-100k or Amazon Beauty from ``../shared/data``) the
bench trains the cloud's large SASRec and device-sized SASRec/GRU4Rec models, distils, quantizes, prunes,
exports to ONNX, personalizes (on-device fine-tuning, DIET-style masks, DUET-style hypernetwork) and sends
deltas, and reports for each method: HR/NDCG@{5,10,20} (leave-one-out, full ranking over all items), parameters,
FLOPs per request, bytes per device counted from the payloads that crossed the in-process transport, and ONNX
Runtime latency (p50/p95, one thread) of scoring a candidate list. The stages live in
:mod:`tandem.recipes.delivery.stages`; results go to a result JSON (:mod:`tandem.report.results`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rich.table import Table

from tandem.data.sequences import SequenceDataset
from tandem.models.seqrec import SequentialRecommender
from tandem.models.seqrec_data import SeqRecSplit, leave_one_out_split
from tandem.models.seqrec_training import FitResult
from tandem.recipes._datafiles import (
    INTERACTION_FILE_FIELDS,
    InteractionFileFields,
    check_dataset,
    check_file_options,
    dataset_label,
    load_interaction_file,
)
from tandem.recipes._options import RecipeConfig, cli
from tandem.report.results import RunResult, StageRecord
from tandem.report.table import human_bytes, human_count

DATASETS = ("synthetic", "ml-100k", "beauty")
QUALITY_KEYS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20", "ndcg@20")


class SyntheticSet(BaseModel):
    """The synthetic data set's shape (arguments of :func:`tandem.data.make_synthetic_fleet`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    n_users: int = Field(3000, ge=10)
    """Synthetic users."""
    n_items: int = Field(1000, ge=10)
    """Items in the synthetic catalogue."""
    n_clusters: int = Field(20, ge=1)
    """Taste clusters."""
    seq_len: int = Field(40, ge=3)
    """Longest sequence of a user."""
    min_seq_len: int = Field(5, ge=3)
    """Shortest sequence of a user."""
    follow_prob: float = Field(0.5, ge=0.0, le=1.0)
    """Chance that a click follows the user's cluster."""


class BenchConfig(RecipeConfig, InteractionFileFields):
    """Everything a bench run depends on (scikit-learn style defaults; recorded in the result JSON)."""

    dataset: str = "synthetic"
    """The data set: synthetic (embedded), ml-100k, beauty (from data_root), or the path of your own interaction
    log (CSV/TSV, RecBole .inter, S3-Rec .txt; see docs/your-data.md)."""
    data_root: str | None = None
    """Data root (default: $TANDEM_DATA or ../shared/data)."""
    max_len: int = Field(50, ge=1)
    """Longest history a model reads."""
    epochs: int = Field(30, ge=1)
    """Most training epochs (early stopping on validation)."""
    patience: int = Field(3, ge=1)
    """Epochs without validation gain before stopping."""
    batch_size: int = Field(128, ge=1)
    """Training batch size."""
    lr: float = Field(1e-3, gt=0)
    """Adam step of the large model."""
    small_lr: float = Field(3e-3, gt=0)
    """Adam step of the device-sized SASRec (narrow embeddings learn faster with a larger step)."""
    gru4rec_lr: float = Field(1e-2, gt=0)
    """Adam step of the device-sized GRU4Rec: smaller steps leave it on the popularity plateau for many epochs
    on small data sets (ML-100k has 16 minibatches an epoch) and early stopping ends it there."""
    n_negatives: int | None = Field(1024, ge=1, json_schema_extra=cli("--negatives"))
    """Shared negatives of the large model's sampled softmax (0 or None: full softmax). Small models use the full
    one."""
    temperature: float = Field(1.0, ge=0.01)
    """Distillation temperature."""
    alpha: float = Field(0.0, ge=0.0, le=1.0)
    """Weight of the teacher's soft labels in the distilled student's loss (the rest: the true next items).
    Measured (SASRec small, test NDCG@10): transferring the teacher's items and training on the labels
    beats logit KD on all three data sets (ML-100k 0.0892 vs 0.0743, alone 0.0711; Beauty 0.0433 in 20 epochs
    vs 0.0386 in a 21-minute budget, alone 0.0423; synthetic 0.5735 vs 0.5639, alone 0.5709), and adding the
    logit term to the transfer lowered it (ML-100k 0.0765, synthetic 0.5646; on Beauty it trailed the transfer
    alone at every epoch)."""
    logit_kd_alpha: float | None = Field(0.5, gt=0.0, le=1.0)
    """Also train a student by logit distillation alone (no item transfer) at this weight, for comparison
    (0 or None: skip it)."""
    distill_top_k: int | None = Field(100, ge=1)
    """0 or None: Hinton KD over all items; an int: soft labels on the teacher's top-k only (ranking-focused),
    with the teacher run once per training window. Measured: top-100 at T=1 beat the student trained alone on
    ML-100k (SASRec and GRU4Rec) and synthetic GRU4Rec; T=2 over-smooths the teacher's already flat
    next-item distribution (ML-100k SASRec NDCG@10 0.038 vs 0.071 alone)."""
    transfer_items: bool = True
    """Start the distilled student's item table from the teacher's, projected on its top principal directions
    (:func:`tandem.delivery.seqrec_distill.transfer_item_embeddings`) before distilling."""
    gru4rec: bool = True
    """Also train device-sized GRU4Rec models."""
    prune_sparsity: float = Field(0.5, ge=0.0, lt=1.0)
    """Share of the distilled model's weights magnitude pruning removes."""
    n_candidates: int = Field(100, ge=1)
    """Candidates a device scores per request (latency)."""
    onnx: bool = True
    """Export each model to ONNX and time it; False skips latency (quick runs, tests)."""
    latency_repeats: int = Field(300, ge=1)
    """Timed ONNX Runtime calls per model."""
    finetune_users: int = Field(500, ge=0)
    """Devices that fine-tune on their own sequence."""
    finetune_steps: int = Field(5, ge=1)
    """Optimiser steps of each device's fine-tuning."""
    finetune_lr: float = Field(1e-3, gt=0)
    """Step of each device's fine-tuning."""
    personal_epochs: int = Field(3, ge=1)
    """Epochs of the mask / hypernetwork generators."""
    personal_examples: int = Field(3, ge=1)
    """Recent examples a device feeds the generators."""
    personal_lr: float = Field(3e-3, gt=0)
    """Adam step of the generators."""
    personal_user_dim: int = Field(64, ge=1)
    """Width of the user vector the mask and parameter generators read."""
    hypernet_rank: int = Field(4, ge=1)
    """Rank of the parameter generator's low-rank weight updates (DUET-style)."""
    delta_fraction: float = Field(0.1, gt=0.0, le=1.0)
    """Share of each changed tensor a delta update sends."""
    cache_dir: str | None = None
    """Reuse trained checkpoints from this folder."""
    max_train_minutes: float | None = Field(None, gt=0)
    """Wall-clock budget of each model's training (None: epochs and early stopping only); the best validation
    epoch so far is kept when it runs out. Part of the checkpoint cache key when set."""
    threads: int = Field(1, ge=1)
    """torch intra-op threads for training."""
    seed: int = 0
    """Seed of everything random."""
    synthetic: SyntheticSet = Field(default_factory=SyntheticSet)
    """Shape of the synthetic data set."""

    @field_validator("dataset")
    @classmethod
    def _known_or_file(cls, value: str) -> str:
        return check_dataset(value, DATASETS, "an interaction file")

    @property
    def dataset_name(self) -> str:
        """The data set's short name (a file's stem), for result files and caches."""
        return dataset_label(self.dataset)

    @model_validator(mode="after")
    def _file_options_need_a_file(self) -> BenchConfig:
        check_file_options(self, DATASETS, INTERACTION_FILE_FIELDS)
        return self

    @field_validator("n_negatives", "distill_top_k", "logit_kd_alpha", mode="before")
    @classmethod
    def _zero_is_off(cls, value: Any) -> Any:
        """0 turns these off (None), as the command line has always read it."""
        return None if value == 0 else value


def load_bench_data(config: BenchConfig) -> SequenceDataset:
    """The sequences of ``config.dataset`` (real data from ``data_root`` / ``../shared/data``)."""
    if config.dataset == "synthetic":
        from tandem.data import make_synthetic_fleet

        return make_synthetic_fleet(**config.synthetic.model_dump(), seed=config.seed).sequences
    if config.dataset == "ml-100k":
        from tandem.data import load_movielens_100k

        folder = None if config.data_root is None else Path(config.data_root) / "movielens-100k"
        return load_movielens_100k(folder).to_sequences()
    if config.dataset == "beauty":
        from tandem.data import load_s3rec

        return load_s3rec(None if config.data_root is None else Path(config.data_root) / "amazon-s3rec")
    return load_interaction_file(config.dataset, config)


@dataclass
class BenchContext:
    """What the stages share: config, split, the models so far, and a checkpoint cache."""

    config: BenchConfig
    data: SequenceDataset
    split: SeqRecSplit
    progress: bool = True
    models: dict[str, SequentialRecommender] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    """JSON-able facts recorded in the result's config."""
    objects: dict[str, Any] = field(default_factory=dict)
    """Shared runtime objects (the transport), not recorded."""
    log: Callable[[str], None] | None = None
    """Receives one line per training epoch and stage (for long runs without progress bars)."""

    def say(self, line: str) -> None:
        """Send ``line`` to :attr:`log` (if any), prefixed with the seconds since the context was made."""
        if self.log is not None:
            self.log(f"[{time.perf_counter() - self.started:7.0f}s] {line}")

    def __post_init__(self) -> None:
        self.started = time.perf_counter()

    def cached_fit(self, name: str, model: SequentialRecommender, fit: Any, **key: Any) -> FitResult:
        """Run ``fit()`` (training ``model`` in place) unless a checkpoint for the same setting is cached."""
        if self.config.cache_dir is None:
            return fit()
        if self.config.max_train_minutes is not None:
            key = {**key, "max_train_minutes": self.config.max_train_minutes}
        signature = json.dumps({"name": name, "model": model.config(), "arch": model.arch, "data": self.fingerprint(),
                                "key": key}, sort_keys=True, default=str)
        digest = hashlib.sha256(signature.encode()).hexdigest()[:16]
        path = Path(self.config.cache_dir) / f"{self.config.dataset_name}-{name}-{digest}.pt"
        if path.exists():
            saved = torch.load(path, weights_only=True)
            model.load_state_dict(saved["state"])
            return FitResult(**json.loads(saved["fit"]))
        result = fit()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": model.state_dict(), "fit": json.dumps(asdict(result))}, path)
        return result

    def fingerprint(self) -> str:
        """A short hash of the training data, so cached checkpoints never cross data sets."""
        h = hashlib.sha256(self.data.items.tobytes())
        h.update(self.data.offsets.tobytes())
        return h.hexdigest()[:16]


def run_bench(config: BenchConfig | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None,
              on_stage: Callable[[RunResult], None] | None = None) -> RunResult:
    """Run every delivery stage on ``config.dataset`` and return the measured result.

    ``log`` (e.g. ``print``) receives a line per training epoch and per finished stage, so a long run in the
    background can be followed without progress bars; ``on_stage`` receives the partial result (config
    ``"partial": True``) after every stage, e.g. to save it, so an interrupted long run keeps what it measured.
    """
    from tandem.recipes.delivery import personal_stages
    from tandem.recipes.delivery import stages as bench_stages

    stages = [bench_stages.stage_large, bench_stages.stage_sasrec_small]
    stages += [bench_stages.stage_gru4rec] if config is not None and config.gru4rec else []
    stages += [bench_stages.stage_compress, personal_stages.stage_personalize, personal_stages.stage_delta]

    config = config or BenchConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    try:
        torch.manual_seed(config.seed)
        data = load_bench_data(config)
        ctx = BenchContext(config, data, leave_one_out_split(data, config.max_len), progress, log=log)
        records: list[StageRecord] = []

        def result(partial: bool) -> RunResult:
            summary = {"n_users": data.n_users, "n_items": data.n_items, "n_interactions": data.n_interactions,
                       "n_test_users": int(ctx.split.users.size), **ctx.notes}
            return RunResult("delivery-bench", {**config.to_dict(), "data": summary, **({"partial": True} if partial
                                                                                      else {})},
                             list(records), wall_clock_s=time.perf_counter() - start)

        for stage in stages:
            for record in stage(ctx):
                records.append(record)
                quality = " ".join(f"{k} {record.metrics[k]:.4f}" for k in QUALITY_KEYS if k in record.metrics)
                ctx.say(f"{record.stage}: {quality}")
            if on_stage is not None:
                on_stage(result(partial=True))
    finally:
        torch.set_num_threads(threads)
    return result(partial=False)


def bench_table(result: RunResult) -> Table:
    """The issue's table: quality, parameters, FLOPs, bytes per device and ONNX latency per method."""
    table = Table(title=f"tandem delivery bench ({result.config.get('dataset')}, leave-one-out, full ranking)")
    for column in ("method", "HR@10", "NDCG@10", "NDCG@20", "params", "FLOPs/req", "bytes/device", "p50 ms",
                   "p95 ms", "notes"):
        table.add_column(column, justify="left" if column in ("method", "notes") else "right")
    for s in result.stages:
        m = s.metrics

        def num(key: str, fmt: str = "{:.4f}", metrics: dict = m) -> str:
            value = metrics.get(key)
            return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)

        table.add_row(s.stage, num("hr@10"), num("ndcg@10"), num("ndcg@20"),
                      human_count(m["params"]) if "params" in m else "-",
                      human_count(m["flops_per_request"]) if "flops_per_request" in m else "-",
                      human_bytes(m["bytes_per_device"]) if "bytes_per_device" in m else "-",
                      f"{s.latency_p50_s * 1e3:.3f}" if s.latency_p50_s else "-",
                      f"{s.latency_p95_s * 1e3:.3f}" if s.latency_p95_s else "-", s.notes)
    return table
