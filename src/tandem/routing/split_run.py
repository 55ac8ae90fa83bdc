"""Running a split model for real: device half, real encoded activation over the wire, cloud half.

:func:`run_split` executes stages ``[:p]`` as the device, encodes the activation into an
:class:`~tandem.core.messages.InferenceRequest` envelope, decodes it as the cloud, runs stages ``[p:]``, and
sends the output back in an :class:`~tandem.core.messages.InferenceResponse`. It returns the output and
what was *measured* on the way: FLOPs counted while each half ran and the payload bytes. With the
lossless ``fp32`` codec the output equals the unsplit model's bit for bit, which :func:`measure_partitions`
checks for every partition. :func:`split_cnn` builds the layered CNN the benchmark cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError
from tandem.core.messages import InferenceRequest, InferenceResponse
from tandem.routing.split import Activation, LayerProfile, as_activation, run_stage


@dataclass
class SplitRun:
    """One real split execution: the output, FLOPs per side, and bytes each way (0 when nothing was sent)."""

    output: dict[str, torch.Tensor]
    device_flops: float
    cloud_flops: float
    bytes_up: int
    bytes_down: int


@torch.no_grad()
def run_split(stages: Sequence[nn.Module], x: torch.Tensor | Activation, partition: int, *,
              codec: str = "fp32") -> SplitRun:
    """Run ``stages[:partition]`` on the device and the rest in the cloud, through real payloads."""
    if not 0 <= partition <= len(stages):
        raise ConfigError(f"run_split: partition must be in 0..{len(stages)}, got {partition}")
    value = as_activation(x)
    with FlopCounterMode(display=False) as device_counter:
        for stage in stages[:partition]:
            value = run_stage(stage.eval(), value)
    if partition == len(stages):
        return SplitRun(value, float(device_counter.get_total_flops()), 0.0, 0, 0)
    request = InferenceRequest(0, f"split-{partition}", encode_state(value, codec, meta={"partition": partition}))
    received, meta = decode_state(request.payload)
    if meta.get("partition") != partition:
        raise ConfigError("run_split: the request's partition does not match")
    with FlopCounterMode(display=False) as cloud_counter:
        for stage in stages[partition:]:
            received = run_stage(stage.eval(), received)
    response = InferenceResponse(request.request_id, encode_state(received, codec))
    output, _ = decode_state(response.payload)
    return SplitRun(output, float(device_counter.get_total_flops()), float(cloud_counter.get_total_flops()),
                    len(request.payload), len(response.payload))


@dataclass
class PartitionCheck:
    """Every partition run for real: measured FLOPs/bytes as a profile, and the largest output difference."""

    measured: LayerProfile
    max_abs_diff: np.ndarray
    runs: list[SplitRun]


@torch.no_grad()
def measure_partitions(stages: Sequence[nn.Module], x: torch.Tensor | Activation, *, codec: str = "fp32",
                       names: Sequence[str] | None = None) -> PartitionCheck:
    """Run the model unsplit and at every partition; compare outputs and collect measured FLOPs and bytes."""
    reference = as_activation(x)
    for stage in stages:
        reference = run_stage(stage.eval(), reference)
    runs = [run_split(stages, x, p, codec=codec) for p in range(len(stages) + 1)]
    diffs = np.array([max(float((r.output[k] - reference[k]).abs().max()) for k in reference) for r in runs])
    device_flops = np.array([r.device_flops for r in runs])
    bytes_in = np.array([r.bytes_up for r in runs[:-1]] + [runs[0].bytes_down], dtype=np.int64)
    labels = tuple(names) if names is not None else tuple(f"{i}:{type(s).__name__}" for i, s in enumerate(stages))
    measured = LayerProfile(labels, np.diff(device_flops), bytes_in)
    return PartitionCheck(measured, diffs, runs)


def split_cnn(blocks: Sequence[Sequence[int]] = ((128,), (256, 256), (512, 512), (512,)), *, stem_channels: int = 16,
              stem_stride: int = 4, n_classes: int = 100, seed: int = 0) -> list[nn.Module]:
    """A VGG-style CNN as a list of stages: a cheap strided stem that shrinks the image, then conv blocks.

    Each block is 3x3 convolutions (widths ``blocks[i]``) with ReLU, then 2x2 max-pooling (Simonyan &
    Zisserman, "Very Deep Convolutional Networks", ICLR 2015). The stem makes the Neurosurgeon trade-off
    visible: its output is a third of the input's size at almost no compute, while the blocks hold most of
    the FLOPs, so slow devices on slow links cut after the stem and fast devices keep everything.
    """
    if not blocks or any(not b or min(b) < 1 for b in blocks) or min(stem_channels, stem_stride, n_classes) < 1:
        raise ConfigError("split_cnn: every block needs widths >= 1; stem_channels, stem_stride, n_classes >= 1")
    torch.manual_seed(seed)
    stages: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, stem_channels, stem_stride, stride=stem_stride), nn.ReLU())]
    previous = stem_channels
    for widths in blocks:
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.ReLU()]
            previous = width
        stages.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
    stages.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    stages.append(nn.Linear(previous, n_classes))
    return stages
