"""The one MLP of tandem: a JSON spec, and the ``nn.Sequential`` it builds.

Federated runs, the server's model registry, the device agent, the demos and the peer workload all describe
their feed-forward classifier here. The spec is small JSON so that it can travel in the model registry and a
device can rebuild the module (to train it) and its ONNX graph (to run it,
:func:`tandem.device.modelspec.to_onnx`) from it:

    {"type": "mlp", "sizes": [64, 32, 10], "activation": "relu"}

``sizes`` lists layer widths, input first and classes last; an activation follows every hidden Linear layer.
The module is ``nn.Sequential(Linear, act, Linear, act, ..., Linear)`` built in that order, so a seeded
``torch.manual_seed`` gives the same initial weights as the same ``nn.Sequential`` written out by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from tandem.core.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
"""Activation names a spec may use, and the module each builds."""
MAX_WIDTH = 1 << 16
"""Widest layer a spec may ask for (a guard against a malformed or hostile spec exhausting memory)."""


def _checked(sizes: Any, activation: Any) -> tuple[list[int], str]:
    """``(sizes, activation)`` if they describe an MLP, else a ConfigError saying what is wrong."""
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(type(s) is int and 0 < s <= MAX_WIDTH for s in sizes):
        raise ConfigError(f"mlp spec: sizes must be a list of >= 2 ints in 1..{MAX_WIDTH}, got {sizes!r}")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ConfigError(f"mlp spec: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return sizes, activation


def mlp_spec(sizes: Sequence[int], activation: str = "relu") -> dict[str, Any]:
    """The JSON spec of an MLP with layer widths ``sizes`` (input first, classes last); validated now."""
    widths, activation = _checked([int(s) for s in sizes], activation)
    return {"type": "mlp", "sizes": widths, "activation": activation}


def build_mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """``nn.Sequential(Linear, act, ..., Linear)`` with layer widths ``sizes`` (ConfigError if malformed)."""
    widths, activation = _checked([int(s) for s in sizes], activation)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """The torch module a spec describes (ConfigError for an unknown or malformed spec)."""
    if not isinstance(spec, Mapping) or spec.get("type") != "mlp":
        raise ConfigError(f"unknown model spec {spec!r}; supported: {{'type': 'mlp', 'sizes': [...]}}")
    return build_mlp(*_checked(spec.get("sizes"), spec.get("activation", "relu")))
