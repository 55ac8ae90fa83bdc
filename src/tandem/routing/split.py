"""Split computing: choose where to cut a layered model between device and cloud (Neurosurgeon-style).

Neurosurgeon (Kang et al., "Neurosurgeon: Collaborative Intelligence Between the Cloud and Mobile Edge",
ASPLOS 2017) profiles each layer's compute and output size once, then, for the device's current compute
speed and link, predicts the end-to-end latency (or mobile energy) of every partition point and runs the
first ``p`` layers on the device, ships the activation, and runs the rest in the cloud. Partition ``0``
is cloud-only (the input is uploaded), partition ``L`` is device-only (nothing is sent).

For partition ``p`` of ``L`` stages (all pure and vectorized over devices)::

    latency(p) = F[:p] / device + [p < L] * (rtt + bytes_in(p) / up + F[p:] / cloud + bytes_out / down)
    energy(p)  = P_compute * F[:p] / device + [p < L] * (P_tx(up) * bytes_in(p) / up + P_rx(down) * bytes_out / down
                 + P_idle * (rtt + F[p:] / cloud))

``bytes_in(p)`` is the encoded size of the tensor entering stage ``p`` (the input for ``p = 0``). The
radio power grows linearly with throughput, the form of Huang et al.'s LTE power model ("A Close
Examination of Performance and Power Characteristics of 4G LTE Networks", MobiSys 2012); the default
coefficients are tandem's ballpark values of that magnitude, not a measurement.
:mod:`tandem.routing.split_run` runs the cut model for real to check the choice and the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tandem.core.envelope import encode_state
from tandem.core.errors import ConfigError

Activation = Mapping[str, torch.Tensor]


def as_activation(value: torch.Tensor | Activation) -> dict[str, torch.Tensor]:
    """A stage's input or output as a named-tensor dict (a bare tensor becomes ``{"x": tensor}``)."""
    if isinstance(value, torch.Tensor):
        return {"x": value}
    if isinstance(value, Mapping) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
        return dict(value)
    raise ConfigError(f"split: a stage must take and return a tensor or a dict of tensors, got {type(value).__name__}")


def run_stage(stage: nn.Module, value: Activation) -> dict[str, torch.Tensor]:
    """Apply one stage: a single-tensor activation is passed as the tensor, otherwise as the dict."""
    arg = value["x"] if set(value) == {"x"} else value
    return as_activation(stage(arg))


def activation_bytes(value: Activation, codec: str = "fp32") -> int:
    """Bytes on the wire of an activation: ``len`` of its real encoded envelope."""
    return len(encode_state({k: v.detach() for k, v in value.items()}, codec))


@dataclass(frozen=True)
class LayerProfile:
    """One profiling pass: stage names, FLOPs per stage, and bytes entering each stage (``[L + 1]``, last = output)."""

    names: tuple[str, ...]
    flops: np.ndarray
    tensor_bytes: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        if n < 1 or np.asarray(self.flops).shape != (n,) or np.asarray(self.tensor_bytes).shape != (n + 1,):
            raise ConfigError(f"LayerProfile: need L >= 1 names, flops [L] and tensor_bytes [L + 1]; got {n}, "
                              f"{np.asarray(self.flops).shape}, {np.asarray(self.tensor_bytes).shape}")
        if np.any(np.asarray(self.flops) < 0) or np.any(np.asarray(self.tensor_bytes) < 0):
            raise ConfigError("LayerProfile: flops and bytes must be >= 0")

    @property
    def n_stages(self) -> int:
        return len(self.names)

    @property
    def output_bytes(self) -> int:
        return int(self.tensor_bytes[-1])


@torch.no_grad()
def profile_stages(stages: Sequence[nn.Module], example: torch.Tensor | Activation, *, codec: str = "fp32",
                   names: Sequence[str] | None = None) -> LayerProfile:
    """Run ``stages`` once on ``example`` (batch of 1), counting each stage's FLOPs and encoded output bytes."""
    if not stages:
        raise ConfigError("profile_stages: no stages")
    value = as_activation(example)
    flops, sizes = [], [activation_bytes(value, codec)]
    for stage in stages:
        stage.eval()
        with FlopCounterMode(display=False) as counter:
            value = run_stage(stage, value)
        flops.append(counter.get_total_flops())
        sizes.append(activation_bytes(value, codec))
    labels = tuple(names) if names is not None else tuple(f"{i}:{type(s).__name__}" for i, s in enumerate(stages))
    return LayerProfile(labels, np.asarray(flops, dtype=np.float64), np.asarray(sizes, dtype=np.int64))


@dataclass(frozen=True)
class PowerModel:
    """Device power draw in watts: compute, radio transmit/receive (base + per Mbit/s), idle while waiting."""

    compute_w: float = 2.0
    tx_base_w: float = 1.3
    tx_w_per_mbps: float = 0.44
    rx_base_w: float = 1.3
    rx_w_per_mbps: float = 0.05
    idle_w: float = 0.3

    def __post_init__(self) -> None:
        if any(not np.isfinite(v) or v < 0 for v in vars(self).values()):
            raise ConfigError(f"PowerModel: every coefficient must be finite and >= 0, got {self}")


def partition_costs(profile: LayerProfile, device_gflops: ArrayLike, uplink_mbps: ArrayLike, downlink_mbps: ArrayLike,
                    rtt_ms: ArrayLike, *, cloud_gflops: float = 1000.0, power: PowerModel | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(latency_s, energy_j)``, each ``[n_devices, L + 1]``: every partition for every device. Pure."""
    dev, up, down, rtt = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in
                          (device_gflops, uplink_mbps, downlink_mbps, rtt_ms))
    dev, up, down, rtt = np.broadcast_arrays(dev, up, down, rtt)
    if not all(np.all(np.isfinite(a)) and np.all(a > 0) for a in (dev, up, down)) or np.any(rtt < 0) \
            or not cloud_gflops > 0:
        raise ConfigError("partition_costs: compute and link rates must be finite and > 0, rtt_ms >= 0")
    p = power or PowerModel()
    cum = np.concatenate([[0.0], np.cumsum(profile.flops)])  # FLOPs on the device for partition p
    device_s = cum[None, :] / (dev[:, None] * 1e9)
    cloud_s = (cum[-1] - cum)[None, :] / (cloud_gflops * 1e9)
    remote = np.arange(profile.n_stages + 1)[None, :] < profile.n_stages
    up_s = profile.tensor_bytes[None, :] * 8.0 / (up[:, None] * 1e6)
    down_s = np.full_like(up_s, 1.0) * (profile.output_bytes * 8.0 / (down[:, None] * 1e6))
    wait_s = rtt[:, None] / 1e3 + cloud_s
    latency = device_s + remote * (up_s + wait_s + down_s)
    energy = p.compute_w * device_s + remote * ((p.tx_base_w + p.tx_w_per_mbps * up[:, None]) * up_s
                                                + (p.rx_base_w + p.rx_w_per_mbps * down[:, None]) * down_s
                                                + p.idle_w * wait_s)
    return latency, energy


def choose_partition(costs: np.ndarray) -> np.ndarray:
    """The partition with the smallest cost per device (``[n, L + 1]`` -> ``int64 [n]``; ties: fewest device stages)."""
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] < 2 or not np.all(np.isfinite(c)):
        raise ConfigError(f"choose_partition: need finite costs [devices, L + 1 >= 2], got shape {c.shape}")
    return np.argmin(c, axis=1).astype(np.int64)
