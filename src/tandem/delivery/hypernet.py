"""Parameter generation (DUET-style): a cloud hypernetwork writes part of each user's device model.

After DUET (Lv et al., "DUET: A Tuning-Free Device-Cloud Collaborative Parameters Generation Framework for
Efficient Device Model Generalization", WWW 2023): instead of fine-tuning on the device, the cloud maps the
user's recent items to the parameters of (part of) the device model in one forward pass of a hypernetwork
(Ha et al., "HyperNetworks", ICLR 2017), and sends those parameters. The device loads them and predicts;
it never computes a gradient.

For every generated tensor ``W`` of the device model the generator outputs ``W + A(z) B(z) / sqrt(r)`` for a
2-D weight (a rank-``r`` user-specific update) or ``W + a(z)`` for a vector, where ``z`` is the user's state in
the frozen cloud model. ``B`` and ``a`` start at zero, so before training every user gets the shared model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.personal import Personalizer, UserEncoder, check_vmappable, freeze, per_user_logits
from tandem.models.seqrec import SequentialRecommender


def default_generated(model: SequentialRecommender) -> list[str]:
    """The last Transformer block's feed-forward output layer and the final LayerNorm (if the model has them)."""
    names = [n for n, _ in model.named_parameters()]
    blocks = sorted({n.split(".")[1] for n in names if n.startswith("blocks.")}, key=int)
    chosen = [f"blocks.{blocks[-1]}.ffn_out.weight", f"blocks.{blocks[-1]}.ffn_out.bias"] if blocks else []
    chosen += [n for n in ("final_norm.weight", "final_norm.bias") if n in names]
    if not chosen:
        raise ConfigError(f"default_generated: no default targets in {type(model).__name__}; pass `targets`")
    return chosen


class ParameterGenerator(Personalizer):
    """Cloud hypernetwork producing per-user values of some device-model parameters.

    Args:
        device_model: the shared device model (frozen). cloud_model: the frozen cloud model encoding users.
        targets: names of the device parameters to generate (default :func:`default_generated`).
        user_dim: width of the user code ``z``. rank: rank of the generated update of each 2-D weight.
    """

    def __init__(self, device_model: SequentialRecommender, cloud_model: SequentialRecommender,
                 targets: list[str] | None = None, user_dim: int = 64, rank: int = 4) -> None:
        super().__init__()
        targets = default_generated(device_model) if targets is None else list(targets)
        check_vmappable(device_model, targets)
        if not targets or rank < 1 or cloud_model.n_items != device_model.n_items:
            raise ConfigError(f"ParameterGenerator: need targets, rank >= 1 and models over the same items; got "
                              f"{targets}, rank={rank}, {cloud_model.n_items} vs {device_model.n_items} items")
        self.device_model = freeze(device_model)
        self.targets, self.rank = targets, rank
        self.user = UserEncoder(cloud_model, user_dim)
        params = dict(device_model.named_parameters())
        self.heads = nn.ModuleDict()
        for name in targets:
            shape = params[name].shape
            if len(shape) == 2:
                left, right = nn.Linear(user_dim, shape[0] * rank), nn.Linear(user_dim, rank * shape[1])
                nn.init.zeros_(right.weight)
                nn.init.zeros_(right.bias)
                self.heads[_key(name)] = nn.ModuleList([left, right])
            elif len(shape) == 1:
                head = nn.Linear(user_dim, shape[0])
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
                self.heads[_key(name)] = nn.ModuleList([head])
            else:
                raise ConfigError(f"ParameterGenerator: can only generate 1-D or 2-D tensors, {name!r} is "
                                  f"{tuple(shape)}")

    def generate(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-user parameter values ``{name: [batch, *shape]}``: one forward pass, no gradient on the device."""
        z = self.user(history)
        params = dict(self.device_model.named_parameters())
        out = {}
        for name in self.targets:
            base, head = params[name], cast(nn.ModuleList, self.heads[_key(name)])
            if base.dim() == 2:
                a = head[0](z).view(-1, base.shape[0], self.rank)
                b = head[1](z).view(-1, self.rank, base.shape[1])
                out[name] = base + a @ b / math.sqrt(self.rank)
            else:
                out[name] = base + head[0](z)
        return out

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return per_user_logits(self.device_model, self.generate(history), history)


def _key(name: str) -> str:
    return name.replace(".", "__")


def params_payload(params: Mapping[str, torch.Tensor], codec: str = "fp16",
                   meta: Mapping[str, Any] | None = None) -> bytes:
    """One user's generated parameters (no batch dimension) as an envelope (fp16 + zstd by default)."""
    return encode_state({n: p.detach() for n, p in params.items()}, codec=codec, compress="zstd", meta=meta)


def device_scores(device_model: SequentialRecommender, payload: bytes, history: torch.Tensor) -> torch.Tensor:
    """What the device computes: load the generated parameters into its model and score ``history``."""
    generated, _ = decode_state(payload)
    params = dict(device_model.named_parameters())
    for name, value in generated.items():
        if name not in params or value.shape != params[name].shape:
            raise PayloadError(f"generated parameter {name!r} {tuple(value.shape)} does not fit the device model")
    with torch.no_grad():
        return per_user_logits(device_model, {n: v.unsqueeze(0) for n, v in generated.items()}, history)
