"""The stages of ``tandem delivery bench``, one function each; every stage returns measured StageRecords.

Bytes are ``len()`` of payloads that crossed an :class:`~tandem.transport.InProcessTransport` to a fleet of one
device per test user, decoded on the device side before they are used; quality is HR/NDCG@{5,10,20} of the
leave-one-out test item under full ranking (seen items excluded); latency is ONNX Runtime on one thread per
request (a user's history of ``max_len`` items and ``n_candidates`` candidates to score).
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tandem.core import ModelDelivery, decode_state, encode_state
from tandem.delivery.onnx_export import example_inputs, export_onnx, onnx_latency, onnx_session
from tandem.delivery.prune import pruned_copy, sparse_int8_state, unpack_sparse_state
from tandem.delivery.quantize import int8_payload, load_int8_payload
from tandem.delivery.seqrec_distill import distill_seqrec
from tandem.fleet import sample_fleet
from tandem.models import count_parameters
from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_eval import evaluate_seqrec
from tandem.models.seqrec_training import fit_seqrec, full_softmax_loss, sampled_softmax_loss
from tandem.recipes.delivery.bench import BenchContext
from tandem.report.results import StageRecord
from tandem.transport import InProcessTransport, deliver_model, receive_models

CLOUD, DOWN, DEVICE = "cloud", "cloud->device", "device"

#: Published full-ranking SASRec on the S3-Rec Beauty file (leave-one-out, all items ranked): DuoRec (Qiu et al.,
#: WSDM 2022, Table 3) HR@5/10 = 0.0365/0.0627, NDCG@5/10 = 0.0236/0.0281; ICLRec (Chen et al., WWW 2022, Table 2)
#: reports the same HR@5/NDCG@5 and HR@20/NDCG@20 = 0.0921/0.0353. Both train SASRec with S3-Rec's binary loss.
PUBLISHED_BEAUTY = {"hr@5": 0.0365, "hr@10": 0.0627, "hr@20": 0.0921, "ndcg@5": 0.0236, "ndcg@10": 0.0281,
                    "ndcg@20": 0.0353}


def quality(ctx: BenchContext, scorer: Any, **kwargs: Any) -> dict[str, float]:
    s = ctx.split
    return evaluate_seqrec(scorer, s.test_histories, s.test_targets, seen=s.test_seen, **kwargs)


def fit_kwargs(ctx: BenchContext, description: str, lr: float | None = None) -> dict[str, Any]:
    c = ctx.config

    def on_epoch(row: dict[str, float]) -> None:
        ctx.say(f"{description}: epoch {row['epoch']:.0f} loss {row['loss']:.4f} "
                f"valid ndcg@10 {row.get('ndcg@10', float('nan')):.4f} hr@10 {row.get('hr@10', float('nan')):.4f}")

    return {"epochs": c.epochs, "batch_size": c.batch_size, "lr": c.lr if lr is None else lr,
            "patience": c.patience, "seed": c.seed, "progress": ctx.progress, "description": description,
            "on_epoch": on_epoch, "max_seconds": None if c.max_train_minutes is None else 60.0 * c.max_train_minutes}


def transport(ctx: BenchContext) -> InProcessTransport:
    """One simulated device per test user (profiles sampled once per run)."""
    if "transport" not in ctx.objects:
        ctx.objects["transport"] = InProcessTransport(sample_fleet(int(ctx.split.users.size), seed=ctx.config.seed))
    return ctx.objects["transport"]


def deliver(ctx: BenchContext, payload: bytes, model_id: str, version: int = 1) -> tuple[dict[str, Any], bytes]:
    """Broadcast ``payload`` to every device; returns byte/time metrics and the payload as one device received it."""
    t = transport(ctx)
    devices = np.arange(t.n_devices)
    receipt = deliver_model(t, devices, ModelDelivery(model_id, version, payload))
    arrived = receive_models(t, 0)[-1].payload
    for d in devices[1:]:  # the other devices take theirs too, so mailboxes stay empty
        receive_models(t, int(d))
    return {"bytes_per_device": receipt.n_bytes, "bytes_total": receipt.total_bytes,
            "download_p50_s": float(np.percentile(receipt.seconds, 50)),
            "download_p95_s": float(np.percentile(receipt.seconds, 95))}, arrived


def latency(ctx: BenchContext, model: SequentialRecommender, full: bool = False) -> dict[str, float]:
    """ONNX Runtime (1 thread) per-request latency of candidate scoring (and of full ranking if ``full``)."""
    out = {"candidates_p50_ms": 0.0, "candidates_p95_ms": 0.0}
    if not ctx.config.onnx:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("candidates", "full") if full else ("candidates",):
            path = export_onnx(model, Path(tmp) / f"{mode}.onnx", mode=mode, n_candidates=ctx.config.n_candidates)
            feeds = example_inputs(model, mode, ctx.config.n_candidates, seed=ctx.config.seed)
            measured = onnx_latency(onnx_session(path, threads=1), feeds, repeats=ctx.config.latency_repeats)
            out.update({f"{mode}_{k}": v for k, v in measured.items()})
    return out


def model_record(ctx: BenchContext, stage: str, model: SequentialRecommender, direction: str, notes: str = "",
                 extra: dict[str, Any] | None = None, payload: bytes | None = None, full_latency: bool = False,
                 cloud_flops: float = 0.0) -> StageRecord:
    """Quality, size, FLOPs, ONNX latency and (if ``payload``) delivery bytes of one model."""
    metrics = {**quality(ctx, model), "params": count_parameters(model),
               "flops_per_request": model.flops_per_example(),
               "flops_candidates": model.flops_per_example(ctx.config.n_candidates), **(extra or {})}
    metrics.update(latency(ctx, model, full=full_latency))
    bytes_down = 0
    if payload is not None:
        wire, _ = deliver(ctx, payload, stage.split(":")[-1].strip().replace(" ", "-")[:64])
        metrics.update(wire)
        bytes_down = wire["bytes_total"]
    return StageRecord(stage, direction, metrics, bytes_down=bytes_down,
                       latency_p50_s=metrics["candidates_p50_ms"] / 1e3,
                       latency_p95_s=metrics["candidates_p95_ms"] / 1e3, cloud_flops=cloud_flops, notes=notes)


def model_digest(model: torch.nn.Module) -> str:
    """A short hash of a model's weights (keys cached students to the exact teacher)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fit_note(fit: Any) -> str:
    return f"{fit.epochs_run} ep (best {fit.best_epoch}), {fit.stopped}, {fit.seconds:.0f}s"


def train_flops(model: SequentialRecommender, ctx: BenchContext, epochs: int) -> float:
    """Cloud training FLOPs: 3 forwards (forward + backward) per labelled position per epoch (upper bound)."""
    return 3.0 * model.flops_per_example() * ctx.split.train.n_interactions * epochs


def stage_large(ctx: BenchContext) -> list[StageRecord]:
    """The cloud's large SASRec, trained with early stopping on validation (sampled or full softmax)."""
    c, s = ctx.config, ctx.split
    model = build_seqrec("sasrec", s.n_items, c.max_len, "large")
    loss = full_softmax_loss if c.n_negatives is None else sampled_softmax_loss(c.n_negatives, seed=c.seed)
    fit = ctx.cached_fit("sasrec-large", model, lambda: fit_seqrec(model, s.train, s, loss_fn=loss,
                                                                   **fit_kwargs(ctx, "cloud: SASRec large")),
                         n_negatives=c.n_negatives, epochs=c.epochs, lr=c.lr, batch=c.batch_size, patience=c.patience)
    ctx.models["large"] = model
    extra = {}
    if s.n_items > 400:  # SASRec's sampled protocol (100 unseen negatives) needs a catalogue much larger than 100
        extra = {f"sampled100_{k}": v for k, v in quality(ctx, model, negatives=100, seed=c.seed).items()}
    if c.dataset == "beauty":
        extra.update({f"published_{k}": v for k, v in PUBLISHED_BEAUTY.items()})
    record = model_record(ctx, "cloud: SASRec large", model, CLOUD, fit_note(fit), extra, full_latency=True,
                          cloud_flops=train_flops(model, ctx, fit.epochs_run))
    if c.dataset == "beauty":
        for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20"):
            record.metrics[f"vs_published_{k}"] = record.metrics[k] / PUBLISHED_BEAUTY[k]
    return [record]


def small_models(ctx: BenchContext, arch: str) -> list[StageRecord]:
    """A device-sized model trained alone, the same model distilled from the large SASRec (item transfer, plus
    the logit term at weight ``alpha``), and, when ``logit_kd_alpha`` is set, logit distillation alone."""
    c, s, teacher = ctx.config, ctx.split, ctx.models["large"]
    lr = c.small_lr if arch == "sasrec" else c.gru4rec_lr
    kinds = {"alone": None, "distilled": (c.transfer_items, c.alpha)}
    if c.logit_kd_alpha is not None:
        kinds["logit-kd"] = (False, c.logit_kd_alpha)
    records = []
    for kind, recipe in kinds.items():
        torch.manual_seed(c.seed + 1)
        model = build_seqrec(arch, s.n_items, c.max_len, "small")
        name = f"{arch}-small-{kind}"
        label = f"{'SASRec' if arch == 'sasrec' else 'GRU4Rec'} small {kind.replace('-', ' ')}"
        fit = ctx.cached_fit(name, model, lambda m=model, lb=label, r=recipe: _train_small(ctx, m, lb, lr, r),
                             epochs=c.epochs, lr=lr, batch=c.batch_size, patience=c.patience,
                             **_distill_key(ctx, recipe))
        ctx.models[name] = model
        payload = encode_state(model.state_dict(), codec="fp32", compress="zstd", meta={"model": name, "version": 1})
        uses_teacher = recipe is not None and recipe[1] > 0
        flops = train_flops(model, ctx, fit.epochs_run) + (
            teacher.flops_per_example() * s.train.n_interactions * fit.epochs_run if uses_teacher else 0.0)
        note = fit_note(fit) + ("" if recipe is None else f", {_recipe_note(recipe)}") + ", fp32+zstd"
        records.append(model_record(ctx, f"device: {label}", model, DOWN, note, payload=payload,
                                    full_latency=arch == "sasrec" and kind == "distilled", cloud_flops=flops))
    return records


def _train_small(ctx: BenchContext, model: SequentialRecommender, label: str, lr: float,
                 recipe: tuple[bool, float] | None) -> Any:
    """Train one device model: on the labels alone (``recipe`` None) or distilled as ``(transfer, alpha)``."""
    c, s = ctx.config, ctx.split
    kwargs = fit_kwargs(ctx, label, lr=lr)
    if recipe is None:
        return fit_seqrec(model, s.train, s, **kwargs)
    transfer, alpha = recipe
    return distill_seqrec(ctx.models["large"], model, s.train, s, temperature=c.temperature, alpha=alpha,
                          top_k=c.distill_top_k, transfer_items=transfer, **kwargs)


def _distill_key(ctx: BenchContext, recipe: tuple[bool, float] | None) -> dict[str, Any]:
    """The checkpoint-cache key of a distilled student: the exact teacher and the recipe."""
    if recipe is None:
        return {}
    c, (transfer, alpha) = ctx.config, recipe
    return {"teacher": model_digest(ctx.models["large"]), "temperature": c.temperature, "alpha": alpha,
            **({"top_k": c.distill_top_k} if c.distill_top_k else {}), **({"transfer_items": True} if transfer else {})}


def _recipe_note(recipe: tuple[bool, float]) -> str:
    transfer, alpha = recipe
    parts = (["teacher's items transferred"] if transfer else []) + ([f"logit KD alpha={alpha}"] if alpha > 0 else [])
    return " + ".join(parts) or "labels only"


def stage_sasrec_small(ctx: BenchContext) -> list[StageRecord]:
    return small_models(ctx, "sasrec")


def stage_gru4rec(ctx: BenchContext) -> list[StageRecord]:
    return small_models(ctx, "gru4rec")


def stage_compress(ctx: BenchContext) -> list[StageRecord]:
    """int8 post-training quantization and magnitude pruning (+ sparse int8) of the distilled SASRec."""
    base = ctx.models["sasrec-small-distilled"]
    base_q = quality(ctx, base)
    fp32_bytes = len(encode_state(base.state_dict(), codec="fp32", compress="zstd"))
    payload = int8_payload(base, meta={"model": "sasrec-small-int8", "version": 1})
    wire, arrived = deliver(ctx, payload, "sasrec-small-int8")
    device = load_int8_payload(copy.deepcopy(base), arrived)
    ctx.models["device-int8"] = device
    q = quality(ctx, device)
    int8_metrics = {"fp32_bytes": fp32_bytes, "compression_x": fp32_bytes / len(payload),
                    "relative_ndcg@10_loss": 1.0 - q["ndcg@10"] / base_q["ndcg@10"],
                    "relative_hr@10_loss": 1.0 - q["hr@10"] / base_q["hr@10"]}
    records = [_record_from(ctx, "device: SASRec small int8", device, q, wire, int8_metrics, "decoded from the wire")]

    pruned, masks = pruned_copy(base, ctx.config.prune_sparsity)
    sparse = encode_state(sparse_int8_state(pruned.state_dict(), masks), codec="fp32", compress="zstd")
    wire, arrived = deliver(ctx, sparse, "sasrec-small-pruned")
    device = copy.deepcopy(base)
    device.load_state_dict(unpack_sparse_state(decode_state(arrived)[0]))
    q = quality(ctx, device)
    extra = {"sparsity": ctx.config.prune_sparsity, "fp32_bytes": fp32_bytes, "compression_x": fp32_bytes / len(sparse),
             "relative_ndcg@10_loss": 1.0 - q["ndcg@10"] / base_q["ndcg@10"]}
    records.append(_record_from(ctx, f"device: SASRec small pruned {ctx.config.prune_sparsity:.0%} + int8", device, q,
                                wire, extra, "magnitude pruning, no retraining"))
    return records


def _record_from(ctx: BenchContext, stage: str, model: SequentialRecommender, q: dict[str, float],
                 wire: dict[str, Any], extra: dict[str, Any], notes: str) -> StageRecord:
    lat = latency(ctx, model)
    metrics = {**q, "params": count_parameters(model), "flops_per_request": model.flops_per_example(), **wire,
               **extra, **lat}
    return StageRecord(stage, DOWN, metrics, bytes_down=wire["bytes_total"],
                       latency_p50_s=lat["candidates_p50_ms"] / 1e3, latency_p95_s=lat["candidates_p95_ms"] / 1e3,
                       notes=notes)
