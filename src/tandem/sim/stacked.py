"""Stacked functional form of small feed-forward models: K clients' copies of one architecture as one set of tensors.

A module is *stackable* when it is an ``nn.Linear`` or an ``nn.Sequential`` (nested allowed) of
``nn.Linear`` layers and element-wise, parameter-free layers (:data:`ELEMENTWISE`: ReLU, Tanh, Sigmoid,
GELU, SiLU, ELU, LeakyReLU, Softplus, Identity, ``Dropout`` with ``p = 0``) and has no buffers. Each
parameter ``name`` of shape ``s`` becomes one tensor of shape ``[K, *s]`` and a Linear layer becomes
``baddbmm(b, x, W^T)`` on ``x`` of shape ``[K, B, in]``: one batched matmul serves every client.
Anything else (convolutions, normalisation, recurrent layers, custom forwards) is not stackable and
runs on :class:`tandem.sim.functional.FunctionalRuntime` or
:class:`tandem.federated.client_trainer.SequentialRuntime` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Identity,
)


@dataclass(frozen=True)
class _Linear:
    weight: str
    bias: str | None
    in_features: int
    out_features: int


@dataclass(frozen=True)
class StackedMLP:
    """The layers of a stackable module; parameters are passed in, never stored.

    ``keys`` lists the module's ``state_dict`` names in order; :meth:`forward` takes a dict mapping each
    key to a ``[K, *shape]`` tensor.
    """

    layers: tuple[_Linear | nn.Module, ...]
    keys: tuple[str, ...]

    @classmethod
    def from_module(cls, module: nn.Module) -> StackedMLP | None:
        """The stacked form of ``module``, or ``None`` if it is not stackable (see module docstring)."""
        if any(True for _ in module.buffers()):
            return None
        layers: list[_Linear | nn.Module] = []
        if not _flatten(module, "", layers):
            return None
        if not any(isinstance(layer, _Linear) for layer in layers):
            return None
        keys = tuple(module.state_dict().keys())
        used = {n for layer in layers if isinstance(layer, _Linear) for n in (layer.weight, layer.bias) if n}
        if used != set(keys):
            return None
        return cls(tuple(layers), keys)

    @property
    def in_features(self) -> int:
        return next(layer for layer in self.layers if isinstance(layer, _Linear)).in_features

    def forward_flops(self) -> int:
        """Multiply-adds x 2 (plus bias adds) of one example's forward pass."""
        return sum(
            2 * layer.in_features * layer.out_features + (layer.out_features if layer.bias else 0)
            for layer in self.layers
            if isinstance(layer, _Linear)
        )

    def forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[K, B, out]`` of K models on inputs ``[K, B, in]``."""
        h = x
        for layer in self.layers:
            if isinstance(layer, _Linear):
                weight_t = params[layer.weight].transpose(1, 2)
                if layer.bias is None:
                    h = torch.bmm(h, weight_t)
                else:
                    h = torch.baddbmm(params[layer.bias].unsqueeze(1), h, weight_t)
            else:
                h = layer(h)
        return h

    def forward_single(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[B, out]`` of one (unstacked) model on inputs ``[B, in]``."""
        h = x
        for layer in self.layers:
            if isinstance(layer, _Linear):
                bias = None if layer.bias is None else params[layer.bias]
                h = torch.nn.functional.linear(h, params[layer.weight], bias)
            else:
                h = layer(h)
        return h


def _flatten(module: nn.Module, prefix: str, out: list[_Linear | nn.Module]) -> bool:
    if isinstance(module, nn.Linear):
        bias = f"{prefix}bias" if module.bias is not None else None
        out.append(_Linear(f"{prefix}weight", bias, module.in_features, module.out_features))
        return True
    if isinstance(module, nn.Sequential):
        return all(_flatten(child, f"{prefix}{name}.", out) for name, child in module.named_children())
    if isinstance(module, nn.Dropout) and module.p == 0:
        return True
    if type(module) in ELEMENTWISE:
        out.append(module)
        return True
    return False
