"""Personalized delivery stages of ``tandem delivery bench``: fine-tuning, DIET-style masks, DUET-style
parameters, and delta updates; all measured against the non-personalized int8 model the devices hold.

Per-user payloads are encoded by the cloud, sent to each user's device over the in-process transport, decoded
there, and the device-side scores are computed from the decoded tensors (batched over devices for speed; a
batch of devices computes exactly what each device computes alone, see the parity metric).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tandem.core import decode_state, encode_state
from tandem.data.sequences import leave_one_out
from tandem.delivery.delta import apply_delta, delta_payload
from tandem.delivery.finetune import finetune_flops, finetune_on_sequence
from tandem.delivery.hypernet import ParameterGenerator, params_payload
from tandem.delivery.hypernet import device_scores as hypernet_device_scores
from tandem.delivery.mask import MaskGenerator, mask_payload, masked_logits
from tandem.delivery.mask import device_scores as mask_device_scores
from tandem.delivery.personal import Personalizer, fit_personalizer, per_user_logits
from tandem.delivery.quantize import int8_payload
from tandem.models import count_parameters
from tandem.models.progress import progress_bar
from tandem.models.seqrec_data import last_position_examples, trim_left_padding
from tandem.models.seqrec_eval import batch_ranks, evaluate_logits, metrics_from_ranks
from tandem.models.seqrec_training import fit_seqrec
from tandem.recipes.delivery.bench import BenchContext
from tandem.recipes.delivery.stages import DEVICE, DOWN, deliver, latency, quality, transport
from tandem.report.results import StageRecord

CHUNK = 256


def stage_personalize(ctx: BenchContext) -> list[StageRecord]:
    return [finetune_record(ctx), mask_record(ctx), hypernet_record(ctx)]


def finetune_record(ctx: BenchContext) -> StageRecord:
    """Each sampled device fine-tunes its int8-delivered model on its own sequence (train + newest item)."""
    c, s, base = ctx.config, ctx.split, ctx.models["device-int8"]
    rows = np.sort(np.random.default_rng(c.seed).choice(s.users.size, min(c.finetune_users, s.users.size),
                                                        replace=False))
    logits, seconds = [], []
    with progress_bar(ctx.progress) as bar:
        task = bar.add_task("device: fine-tune per user", total=rows.size)
        for r in rows:
            start = time.perf_counter()
            local = finetune_on_sequence(base, s.test_seen.sequence(int(r)), steps=c.finetune_steps, lr=c.finetune_lr)
            seconds.append(time.perf_counter() - start)
            with torch.no_grad():
                logits.append(local(torch.as_tensor(s.test_histories[r : r + 1]))[0])
            bar.advance(task)
    q = evaluate_logits(torch.stack(logits), s.test_targets[rows], rows, seen=s.test_seen)
    with torch.no_grad():
        base_logits = base(torch.as_tensor(s.test_histories[rows]))
    base_q = evaluate_logits(base_logits, s.test_targets[rows], rows, seen=s.test_seen)
    metrics = {**q, **{f"same_users_base_{k}": v for k, v in base_q.items()}, "n_users": int(rows.size),
               "params": count_parameters(base), "flops_per_request": base.flops_per_example(),
               "device_train_flops": finetune_flops(base, c.finetune_steps), "bytes_per_device": 0}
    p50, p95 = np.percentile(seconds, [50, 95])
    return StageRecord("device: on-device fine-tuning", DEVICE, metrics, latency_p50_s=float(p50),
                       latency_p95_s=float(p95),
                       notes=f"{c.finetune_steps} Adam steps/user on {rows.size} users; latency = fine-tune time "
                             "(torch, 1 thread); quality on those users")


def fit_generator(ctx: BenchContext, generator: Personalizer, name: str) -> dict[str, Any]:
    c, s = ctx.config, ctx.split
    histories, targets = last_position_examples(s.train, c.max_len, c.personal_examples)
    fit = fit_personalizer(generator, histories, targets, epochs=c.personal_epochs, batch_size=c.batch_size * 2,
                           lr=c.personal_lr, seed=c.seed, progress=ctx.progress, description=f"cloud: train {name}",
                           valid=(s.valid_histories, s.valid_targets, s.valid_seen))
    ctx.say(f"cloud: {name}: train loss {fit['loss']}, valid ndcg@10 by epoch (0 = untrained) "
            f"{[round(v, 4) for v in fit['valid_ndcg@10']]}, kept epoch {fit['best_epoch']}")
    return fit


def personalized_delivery(ctx: BenchContext, kind: str, make: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                          encode: Callable[[dict[str, torch.Tensor]], bytes],
                          device_logits: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
                          device_one: Callable[[bytes, torch.Tensor], torch.Tensor],
                          cloud_logits: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, Any]:
    """Send every test user their own payload; score on the device side from what arrived.

    ``make`` computes per-user tensors for a batch of histories; ``encode`` one user's payload; ``device_logits``
    the devices' scores from decoded tensors (batched); ``device_one`` one device alone from its payload (parity).
    """
    s, t = ctx.split, transport(ctx)
    sizes, ranks, parity = [], [], 0.0
    with progress_bar(ctx.progress) as bar:
        task = bar.add_task(f"cloud->device: per-user {kind}", total=s.users.size)
        lengths = (s.test_histories > 0).sum(1)
        order = np.argsort(lengths, kind="stable")  # similar lengths per chunk: unused padding is dropped
        for lo in range(0, s.users.size, CHUNK):
            rows = order[lo : lo + CHUNK]
            history = torch.as_tensor(trim_left_padding(s.test_histories[rows]))
            with torch.no_grad():
                made = make(history)
            decoded: list[dict[str, torch.Tensor]] = []
            for i, r in enumerate(rows):
                payload = encode({n: v[i] for n, v in made.items()})
                sizes.append(t.send_to_device(int(r), kind, payload).n_bytes)
                arrived = t.receive_on_device(int(r), kind)[-1].payload
                decoded.append(decode_state(arrived)[0])
                if lo == 0 and i < 8:  # one device alone computes what the batch computes for it
                    alone = device_one(arrived, history[i : i + 1])[0]
                    with torch.no_grad():
                        batch_row = cloud_logits(history[i : i + 1])[0]
                    finite = torch.isfinite(batch_row)
                    parity = max(parity, float((alone[finite] - batch_row[finite]).abs().max()))
            stacked = {n: torch.stack([d[n] for d in decoded]) for n in decoded[0]}
            with torch.no_grad():
                logits = device_logits(stacked, history)
            ranks.append(batch_ranks(logits, s.test_targets[rows], rows, seen=s.test_seen))
            bar.advance(task, len(rows))
    return {"quality": metrics_from_ranks(torch.cat(ranks)), "sizes": np.asarray(sizes), "parity": parity}


def _personal_record(ctx: BenchContext, stage: str, sent: dict[str, Any], fit: dict[str, Any],
                     extra: dict[str, Any], notes: str) -> StageRecord:
    supernet = ctx.models["device-int8"]
    base_q = quality(ctx, supernet)
    dense = len(encode_state(supernet.state_dict(), codec="fp32", compress="zstd"))
    int8 = len(int8_payload(supernet))
    sizes = sent["sizes"]
    metrics = {**sent["quality"], "base_ndcg@10": base_q["ndcg@10"], "base_hr@10": base_q["hr@10"],
               "params": count_parameters(supernet), "flops_per_request": supernet.flops_per_example(),
               "bytes_per_device": float(sizes.mean()), "bytes_max": int(sizes.max()),
               "bytes_vs_dense_fp32": float(sizes.mean() / dense), "bytes_vs_int8_model": float(sizes.mean() / int8),
               "device_parity_max_abs": sent["parity"], "generator_train_s": fit["seconds"],
               "generator_loss_first": fit["loss"][0], "generator_loss_last": fit["loss"][-1],
               "generator_best_epoch": fit["best_epoch"], "generator_valid_ndcg@10_untrained": fit["valid_ndcg@10"][0],
               "generator_valid_ndcg@10_kept": fit["valid_ndcg@10"][fit["best_epoch"]], **extra}
    lat = latency(ctx, supernet)
    metrics.update(lat)
    return StageRecord(stage, DOWN, metrics, bytes_down=int(sizes.sum()), latency_p50_s=lat["candidates_p50_ms"] / 1e3,
                       latency_p95_s=lat["candidates_p95_ms"] / 1e3,
                       cloud_flops=float(ctx.models["large"].flops_per_example() * sizes.size), notes=notes)


def mask_record(ctx: BenchContext) -> StageRecord:
    """DIET-style: the cloud's generator picks each user's subnetwork of the frozen int8 model; bits travel."""
    supernet = copy.deepcopy(ctx.models["device-int8"])
    generator = MaskGenerator(supernet, ctx.models["large"], user_dim=ctx.config.personal_user_dim)
    fit = fit_generator(ctx, generator, "mask generator")
    keep = []

    def make(history: torch.Tensor) -> dict[str, torch.Tensor]:
        masks = generator.masks(history)
        keep.append(float(torch.cat([m.reshape(len(history), -1).float() for m in masks.values()], 1).mean()))
        return masks

    sent = personalized_delivery(
        ctx, "mask", make, lambda m: mask_payload(m), lambda m, h: masked_logits(supernet, m, h),
        lambda p, h: mask_device_scores(supernet, p, h), generator)
    weight_bits = sum(p.numel() for n, p in supernet.named_parameters() if n in generator.targets)
    return _personal_record(ctx, "device: mask personalization (DIET-style)", sent, fit,
                            {"keep_ratio": float(np.mean(keep)), "mask_bits": weight_bits + supernet.n_items + 1},
                            "frozen int8 supernet; bitmask + zstd per user; no device gradient")


def hypernet_record(ctx: BenchContext) -> StageRecord:
    """DUET-style: a cloud hypernetwork writes part of each user's device model in one forward pass."""
    device = copy.deepcopy(ctx.models["device-int8"])
    generator = ParameterGenerator(device, ctx.models["large"], user_dim=ctx.config.personal_user_dim,
                                   rank=ctx.config.hypernet_rank)
    fit = fit_generator(ctx, generator, "hypernetwork")
    sent = personalized_delivery(
        ctx, "params", generator.generate, lambda p: params_payload(p, codec="fp16"),
        lambda p, h: per_user_logits(device, {n: v.float() for n, v in p.items()}, h),
        lambda p, h: hypernet_device_scores(device, p, h), generator)
    n_generated = sum(p.numel() for n, p in device.named_parameters() if n in generator.targets)
    return _personal_record(ctx, "device: generated parameters (DUET-style)", sent, fit,
                            {"generated_params": n_generated, "generated_tensors": len(generator.targets)},
                            "fp16 + zstd per user; one cloud forward pass; no device gradient")


def stage_delta(ctx: BenchContext) -> list[StageRecord]:
    """The cloud updates the small model on fresh clicks and sends only the change against the int8 v1 devices hold."""
    c = ctx.config
    held = ctx.models["device-int8"]
    updated = copy.deepcopy(ctx.models["sasrec-small-distilled"])
    fresh = leave_one_out(ctx.data).test_history()  # every user's sequence up to the validation item
    start = time.perf_counter()
    fit_seqrec(updated, fresh, None, epochs=1, batch_size=c.batch_size, lr=c.small_lr / 3, seed=c.seed + 7,
               progress=ctx.progress, description="cloud: update small model")
    train_s = time.perf_counter() - start
    payload = delta_payload(held.state_dict(), updated.state_dict(), 1, 2, fraction=c.delta_fraction)
    wire, arrived = deliver(ctx, payload, "sasrec-small-delta", version=2)
    state, version = apply_delta(held.state_dict(), arrived, held_version=1)
    device = copy.deepcopy(held)
    device.load_state_dict(state)
    q = quality(ctx, device.eval())
    full_int8 = len(int8_payload(updated))
    metrics = {**q, "v1_ndcg@10": quality(ctx, held)["ndcg@10"], "v2_exact_ndcg@10": quality(ctx, updated)["ndcg@10"],
               "params": count_parameters(device), "flops_per_request": device.flops_per_example(), **wire,
               "full_int8_bytes": full_int8, "bytes_vs_full_int8": wire["bytes_per_device"] / full_int8,
               "new_version": version, "update_train_s": train_s}
    return [StageRecord("device: delta update v1 -> v2", DOWN, metrics, bytes_down=wire["bytes_total"],
                        notes=f"top-{c.delta_fraction:.0%} of each changed tensor, fp16 + zstd, vs int8 v1 held")]
