"""The stages of ``tandem demo``, one function each, all measured on quality, bytes, latency and cloud cost.

Every byte counted here is ``len()`` of a payload that really crossed the in-process transport;
latencies come from the devices' profiles (link speed, RTT, GFLOP/s); cloud cost counts FLOPs
(forward = 1x, backward = 2x the forward pass) and requests the cloud served.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tandem.core import ModelDelivery, decode_state, encode_state
from tandem.data.clients import PartitionedData
from tandem.data.synthetic import SyntheticFleet, make_synthetic_fleet
from tandem.delivery.distill import distill_next_item
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.fleet import FleetProfiles, available_mask, device_compute_time_s, sample_fleet
from tandem.models import WindowRecommender, count_parameters
from tandem.models.ranking import evaluate_ranking, next_item_examples, train_next_item
from tandem.report.results import StageRecord
from tandem.sim.devices import SimulatedDevices
from tandem.sim.runtime import make_runtime
from tandem.transport import InProcessTransport, deliver_model, receive_models

if TYPE_CHECKING:
    from tandem.recipes.demo.run import DemoConfig

CLOUD, DOWN, DEVICE, UP = "cloud", "cloud->device", "device", "device->cloud"


@dataclass
class DemoContext:
    """Everything the stages share: data splits, the fleet and its transport, the models so far."""

    config: DemoConfig
    data: SyntheticFleet
    fleet: FleetProfiles
    transport: InProcessTransport
    cloud_histories: np.ndarray
    cloud_targets: np.ndarray
    fresh: PartitionedData
    test_histories: np.ndarray
    test_targets: np.ndarray
    progress: Progress | None = None
    models: dict[str, WindowRecommender] = field(default_factory=dict)

    @classmethod
    def build(cls, config: DemoConfig, progress: bool = True) -> DemoContext:
        """Generate the synthetic fleet, sample device profiles and split every sequence in time."""
        data = make_synthetic_fleet(
            n_users=config.n_users, n_items=config.n_items, n_clusters=config.n_clusters,
            seq_len=config.seq_len, follow_prob=config.follow_prob, seed=config.seed,
        )
        sequences = list(data.sequences)
        fleet = sample_fleet(config.n_users, seed=config.seed)
        cloud_h, cloud_t = next_item_examples(sequences, config.window, 1, config.cloud_cut)
        fresh_h, fresh_t = next_item_examples(sequences, config.window, config.cloud_cut, config.fresh_cut)
        per_user = config.fresh_cut - config.cloud_cut
        parts = [np.arange(u * per_user, (u + 1) * per_user) for u in range(config.n_users)]
        test_h, test_t = next_item_examples(sequences, config.window, config.fresh_cut)
        bar = None
        if progress:
            columns = (TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TimeElapsedColumn())
            bar = Progress(*columns, transient=False)
        return cls(config, data, fleet, InProcessTransport(fleet), cloud_h, cloud_t,
                   PartitionedData(fresh_h, fresh_t, parts), test_h, test_t, bar)

    def quality(self, model: torch.nn.Module) -> dict[str, float]:
        """Full-ranking HR@10 / NDCG@10 on every user's test stream."""
        return evaluate_ranking(model, self.test_histories, self.test_targets, k=10)

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[..., None]]:
        """A progress task; yields a callback that advances it by one (whatever it is called with)."""
        progress = self.progress
        if progress is None:
            yield lambda *_: None
            return
        task_id = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task_id)
        progress.update(task_id, completed=total)

    def make_model(self, size: str) -> WindowRecommender:
        c = self.config
        dim, hidden = (c.large_dim, c.large_hidden) if size == "large" else (c.small_dim, c.small_hidden)
        torch.manual_seed(c.seed + (0 if size == "large" else 1))
        return WindowRecommender(c.n_items, dim=dim, hidden=hidden, window=c.window)


def _cloud_training(ctx: DemoContext) -> dict:
    """The optimiser settings every cloud-side training stage shares."""
    c = ctx.config
    return {"epochs": c.cloud_epochs, "lr": c.cloud_lr, "batch_size": c.cloud_batch_size, "seed": c.seed}


def _training_flops(model: WindowRecommender, n_examples: int, epochs: int, passes: float = 3.0) -> float:
    return passes * model.flops_per_example() * n_examples * epochs


def _p50_p95(values: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def stage_train_large(ctx: DemoContext) -> StageRecord:
    """The cloud trains its large model on the logged history of every user."""
    model, epochs = ctx.make_model("large"), ctx.config.cloud_epochs
    with ctx.task("cloud: train large model", epochs) as tick:
        train_next_item(model, ctx.cloud_histories, ctx.cloud_targets, **_cloud_training(ctx), on_epoch=tick)
    ctx.models["large"] = model
    return StageRecord("cloud: train large", CLOUD, ctx.quality(model),
                       extra={"params": count_parameters(model)},
                       cloud_flops=_training_flops(model, len(ctx.cloud_targets), epochs))


def stage_train_small_alone(ctx: DemoContext) -> StageRecord:
    """Baseline: the device-sized model trained on the same labels, without a teacher."""
    model, epochs = ctx.make_model("small"), ctx.config.cloud_epochs
    with ctx.task("cloud: train small model alone", epochs) as tick:
        train_next_item(model, ctx.cloud_histories, ctx.cloud_targets, **_cloud_training(ctx), on_epoch=tick)
    return StageRecord("cloud: train small alone", CLOUD, ctx.quality(model),
                       extra={"params": count_parameters(model)},
                       cloud_flops=_training_flops(model, len(ctx.cloud_targets), epochs),
                       notes="baseline for distillation, not delivered")


def stage_distill(ctx: DemoContext) -> StageRecord:
    """The large model teaches the device-sized model (Hinton distillation with the true labels mixed in)."""
    teacher, student, epochs = ctx.models["large"], ctx.make_model("small"), ctx.config.cloud_epochs
    with ctx.task("cloud: distill large -> small", epochs) as tick:
        distill_next_item(teacher, student, ctx.cloud_histories, ctx.cloud_targets, **_cloud_training(ctx),
                          on_epoch=tick)
    ctx.models["small"] = student
    n, flops = len(ctx.cloud_targets), _training_flops(student, len(ctx.cloud_targets), epochs)
    flops += teacher.flops_per_example() * n * epochs
    return StageRecord("cloud: distill small", CLOUD, ctx.quality(student),
                       extra={"params": count_parameters(student)},
                       cloud_flops=flops)


def stage_deliver_int8(ctx: DemoContext) -> StageRecord:
    """Encode the small model int8 + zstd and send it to every device; devices decode what arrived."""
    devices = np.arange(len(ctx.fleet))
    payload = encode_state(ctx.models["small"].state_dict(), codec="int8", compress="zstd",
                           meta={"model": "small", "version": 1})
    fp32_bytes = len(encode_state(ctx.models["small"].state_dict(), codec="fp32"))
    with ctx.task("cloud->device: int8 delivery", 1) as tick:
        receipt = deliver_model(ctx.transport, devices, ModelDelivery("small", 1, payload))
        tick()
    arrived = [receive_models(ctx.transport, int(device))[-1] for device in devices]
    state, _ = decode_state(arrived[0].payload)
    delivered = copy.deepcopy(ctx.models["small"])
    delivered.load_state_dict(state)
    ctx.models["delivered"] = delivered
    return StageRecord("cloud->device: int8 delivery", DOWN,
                       ctx.quality(delivered), extra={"payload_bytes": len(payload), "fp32_bytes": fp32_bytes},
                       bytes_down=receipt.total_bytes, latency_p50_s=_p50_p95(receipt.seconds)[0],
                       latency_p95_s=_p50_p95(receipt.seconds)[1], cloud_requests=len(devices),
                       notes="latency = download time of the payload")


def stage_device_inference(ctx: DemoContext) -> StageRecord:
    """Devices rank with the delivered model; latency is one ranking's FLOPs on each device's compute."""
    model = ctx.models["delivered"]
    seconds = device_compute_time_s(model.flops_per_example(), ctx.fleet)
    p50, p95 = _p50_p95(seconds)
    return StageRecord("device: on-device inference", DEVICE, ctx.quality(model), latency_p50_s=p50,
                       latency_p95_s=p95, notes="latency = one full ranking on the device; no cloud request")


def stage_federated(ctx: DemoContext) -> tuple[list[StageRecord], list[dict]]:
    """``rounds`` of FedAvg through the one round loop: available devices fine-tune on fresh clicks,
    plans and updates travel fp32 over the in-process transport."""
    c = ctx.config
    objective = LocalObjective(lr=c.local_lr, epochs=c.local_epochs, batch_size=c.local_batch_size)
    loop = RoundLoop(get_strategy("fedavg", objective=objective))
    global_model = ctx.models["delivered"]
    runtime = make_runtime("auto", global_model, ctx.fresh, seed=c.seed)
    devices = SimulatedDevices(runtime, ctx.fresh.sizes, fleet=ctx.fleet, seed=c.seed)
    params = {k: v.detach().clone() for k, v in global_model.state_dict().items()}
    loop.strategy.initialize(params)
    rng = np.random.default_rng(c.seed)
    stages, rounds = [], [{"round": 0, **ctx.quality(global_model)}]
    with ctx.task("device->cloud: FedAvg rounds", c.rounds) as tick:
        for rnd in range(1, c.rounds + 1):
            record, params = _federated_round(ctx, loop, devices, params, rnd, rng)
            global_model.load_state_dict(params)
            record.metrics.update(ctx.quality(global_model))
            stages.append(record)
            rounds.append({"round": rnd, "clients": record.extra["clients"], **record.metrics})
            tick()
    return stages, rounds


def _federated_round(
    ctx: DemoContext, loop: RoundLoop, devices: SimulatedDevices, params: dict, rnd: int, rng: np.random.Generator
) -> tuple[StageRecord, dict]:
    """One FedAvg round among the devices online now; latency = download + local training + upload."""
    c = ctx.config
    available = np.flatnonzero(available_mask(ctx.fleet, rng))
    chosen = np.sort(rng.choice(available, size=min(c.devices_per_round, available.size), replace=False))
    ledger_before = ctx.transport.ledger
    out = loop.run_round(rnd, params, ctx.transport, chosen, devices)
    done = devices.last
    p50, p95 = _p50_p95(np.array(list(done.upload_arrivals.values())) - done.started_at)
    ledger = ctx.transport.ledger
    n_params = sum(v.numel() for v in params.values())
    record = StageRecord(
        f"device->cloud: FedAvg round {rnd}", UP, extra={"clients": len(chosen)},
        bytes_down=ledger.bytes_down - ledger_before.bytes_down, bytes_up=ledger.bytes_up - ledger_before.bytes_up,
        latency_p50_s=p50, latency_p95_s=p95, cloud_flops=2.0 * n_params * len(out.results),
        cloud_requests=2 * len(chosen), notes="latency = download + local training + upload per device",
    )
    return record, out.params


def run_stages(ctx: DemoContext) -> tuple[list[StageRecord], list[dict]]:
    """Run every stage in order; returns the stage records and the per-round federated curve."""
    with ctx.progress if ctx.progress is not None else contextlib.nullcontext():
        stages = [stage(ctx) for stage in (stage_train_large, stage_train_small_alone, stage_distill,
                                           stage_deliver_int8, stage_device_inference)]
        fl_stages, rounds = stage_federated(ctx)
    return stages + fl_stages, rounds
