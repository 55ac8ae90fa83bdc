"""Shared machinery of per-user model customization in the cloud: user encoding, per-user forward, training.

Mask delivery (:mod:`tandem.delivery.mask`, DIET-style) and parameter generation
(:mod:`tandem.delivery.hypernet`, DUET-style) both compute, from a user's recent items, a per-user
variant of the device model's weights. In the cloud a batch of users runs at once: ``torch.func.vmap`` over
``functional_call`` gives every user their own weights with no Python loop (the model must be vmap-able,
e.g. :class:`tandem.models.sasrec.SASRec`; ``nn.GRU`` is not). On the device the same weights are loaded into
an ordinary model. A :class:`Personalizer` is trained by :func:`fit_personalizer` on next-item examples.
"""

from __future__ import annotations

import copy
import time
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.models.seqrec import SequentialRecommender
from tandem.models.seqrec_data import trim_left_padding
from tandem.models.seqrec_eval import evaluate_seqrec
from tandem.models.seqrec_training import length_bucketed_batches


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

    def encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(state, z)``: the cloud model's user state ``[batch, cloud dim]`` (no gradient) and its projection."""
        with torch.no_grad():
            user = self.cloud_model.user_vector(history)
        return user, self.project(user)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.encode(history)[1]


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

    def set_progress(self, fraction: float) -> None:
        """Called before each training step with the fraction of steps done (0 to 1), e.g. for annealing."""

    def train(self, mode: bool = True) -> Personalizer:
        """Train the generator only: the frozen device model stays in eval mode (no dropout)."""
        super().train(mode)
        self.device_model.eval()
        return self


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def freeze(model: ModuleT) -> ModuleT:
    """Turn off gradients of every parameter of ``model`` (the frozen device supernet) and return it."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def fit_personalizer(personalizer: Personalizer, histories: np.ndarray, targets: np.ndarray, *, epochs: int = 3,
                     batch_size: int = 256, lr: float = 1e-3, seed: int = 0, progress: bool = False,
                     description: str = "personalizer", valid: tuple[np.ndarray, np.ndarray, Any] | None = None,
                     metric: str = "ndcg@10") -> dict[str, Any]:
    """Train the generator's parameters on next-item examples (the device model stays frozen).

    With ``valid = (histories, targets, seen)`` (held-out next items, e.g. the leave-one-out validation users)
    the generator is scored on it before training and after every epoch, and the best state is kept: the
    untrained generator reproduces the shared device model (all-ones masks, zero parameter updates), so the
    cloud never ships a personalization that validates worse than sending nothing. Without it the last
    epoch's state is kept.

    Minibatches group examples of similar history length and drop unused padding columns (the cloud model
    that encodes users, and the device model, score a left-padded history the same at any width).
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
    lengths = (histories > 0).sum(1)
    losses, start = [], time.perf_counter()
    steps_per_epoch = -(-len(targets) // batch_size)
    total_steps, step = max(1, epochs * steps_per_epoch - 1), 0
    scores: list[float] = []
    best_state, best_epoch = None, 0

    def validate(epoch: int) -> None:
        nonlocal best_state, best_epoch
        if valid is None:
            return
        personalizer.eval()
        with torch.no_grad():
            quality = evaluate_seqrec(personalizer, valid[0], valid[1], seen=valid[2], batch_size=batch_size)
        scores.append(quality[metric])
        if best_state is None or scores[-1] > max(scores[:-1]):
            best_state, best_epoch = copy.deepcopy(personalizer.state_dict()), epoch

    validate(0)
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=epochs)
        for epoch in range(1, epochs + 1):
            personalizer.train()
            total, count = 0.0, 0
            for idx in length_bucketed_batches(lengths, batch_size, rng):
                hist, tgt = torch.as_tensor(trim_left_padding(histories[idx])), torch.as_tensor(targets[idx])
                personalizer.set_progress(step / total_steps)
                step += 1
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(personalizer(hist), tgt) + personalizer.regularizer()
                loss.backward()
                optimizer.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            losses.append(total / count)
            validate(epoch)
            bar.update(task, advance=1, description=f"{description} loss {losses[-1]:.3f}")
    if best_state is not None:
        personalizer.load_state_dict(best_state)
    personalizer.eval()
    out: dict[str, Any] = {"loss": losses, "seconds": time.perf_counter() - start}
    if valid is not None:
        out.update({f"valid_{metric}": scores, "best_epoch": best_epoch})
    return out
