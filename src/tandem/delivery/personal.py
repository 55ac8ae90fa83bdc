"""Shared machinery of per-user model customization in the cloud: user encoding, per-user forward, training.

Mask delivery (:mod:`tandem.delivery.mask`, DIET-style) and parameter generation
(:mod:`tandem.delivery.hypernet`, DUET-style) both compute, from a user's recent items, a per-user
variant of the device model's weights. In the cloud a batch of users runs at once: ``torch.func.vmap`` over
``functional_call`` gives every user their own weights with no Python loop (the model must be vmap-able,
e.g. :class:`tandem.models.sasrec.SASRec`; ``nn.GRU`` is not). On the device the same weights are loaded into
an ordinary model. A :class:`Personalizer` is trained by :func:`fit_personalizer` on next-item examples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.models.seqrec import SequentialRecommender


class UserEncoder(nn.Module):
    """``z = MLP(cloud_model.user_vector(history))``: a frozen cloud recommender's user state, projected.

    The cloud model is held outside this module's parameters (it is neither trained nor saved with it).
    """

    def __init__(self, cloud_model: SequentialRecommender, dim: int = 64) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"UserEncoder: dim must be >= 1, got {dim}")
        self._cloud = (cloud_model.eval(),)
        self.dim = dim
        self.project = nn.Sequential(nn.LayerNorm(cloud_model.dim), nn.Linear(cloud_model.dim, dim), nn.GELU())

    @property
    def cloud_model(self) -> SequentialRecommender:
        return self._cloud[0]

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            user = self.cloud_model.user_vector(history)
        return self.project(user)


def check_vmappable(model: nn.Module, names: list[str]) -> None:
    """ConfigError unless every name is a parameter of ``model`` and the model has no ``nn.RNNBase`` layer."""
    params = dict(model.named_parameters())
    missing = [n for n in names if n not in params]
    if missing:
        raise ConfigError(f"unknown parameter names {missing}; the model has {sorted(params)}")
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        raise ConfigError(f"{type(model).__name__} uses nn.GRU/LSTM, which torch.func.vmap cannot run with "
                          "per-user weights; personalize a SASRec device model instead")


def per_user_logits(model: SequentialRecommender, overrides: dict[str, torch.Tensor],
                    history: torch.Tensor) -> torch.Tensor:
    """Full-ranking logits ``[batch, n_items + 1]`` where user ``b`` uses ``overrides[name][b]`` as weights."""
    if not overrides:
        return model(history)
    base = {n: p for n, p in model.named_parameters() if n not in overrides}

    def one(weights: dict[str, torch.Tensor], row: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**base, **weights}, (row.unsqueeze(0),))[0]

    return vmap(one)(overrides, history)


class Personalizer(nn.Module):
    """Base of the cloud-side generators: ``forward(history) -> logits`` of the personalized device model."""

    device_model: SequentialRecommender

    def forward(self, history: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def regularizer(self) -> torch.Tensor:
        """Extra training loss (default 0); computed after each ``forward``."""
        return torch.zeros(())

    def train(self, mode: bool = True) -> Personalizer:
        """Train the generator only: the frozen device model stays in eval mode (no dropout)."""
        super().train(mode)
        self.device_model.eval()
        return self


def freeze(model: nn.Module) -> nn.Module:
    """Turn off gradients of every parameter of ``model`` (the frozen device supernet) and return it."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def fit_personalizer(personalizer: Personalizer, histories: np.ndarray, targets: np.ndarray, *, epochs: int = 3,
                     batch_size: int = 256, lr: float = 1e-3, seed: int = 0, progress: bool = False,
                     description: str = "personalizer") -> dict[str, Any]:
    """Train the generator's parameters on next-item examples (the device model stays frozen).

    Returns ``{"loss": [per-epoch mean], "seconds": float}``.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"fit_personalizer: need epochs, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, "
                          f"{lr}")
    if len(targets) == 0 or histories.shape[0] != len(targets):
        raise ConfigError(f"fit_personalizer: need matching non-empty histories and targets, got "
                          f"{histories.shape[0]} and {len(targets)}")
    trainable = [p for p in personalizer.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("fit_personalizer: the personalizer has no trainable parameters")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(trainable, lr=lr)
    losses, start = [], time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=epochs)
        for _ in range(epochs):
            personalizer.train()
            total, count = 0.0, 0
            order = rng.permutation(len(targets))
            for lo in range(0, len(order), batch_size):
                idx = order[lo : lo + batch_size]
                hist, tgt = torch.as_tensor(histories[idx]), torch.as_tensor(targets[idx])
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(personalizer(hist), tgt) + personalizer.regularizer()
                loss.backward()
                optimizer.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            losses.append(total / count)
            bar.update(task, advance=1, description=f"{description} loss {losses[-1]:.3f}")
    personalizer.eval()
    return {"loss": losses, "seconds": time.perf_counter() - start}
