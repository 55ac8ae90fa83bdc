"""Classifiers on feature arrays: train one, read its class probabilities and its accuracy.

The short path for a user's own ``nn.Module`` and NumPy arrays (e.g. scikit-learn's digits): the cloud's
large model is trained with :func:`train_classifier`, a device's small one is distilled from it
(:func:`tandem.delivery.distill_classifier`), and :func:`predict_proba` gives the class probabilities a
request policy reads (:func:`tandem.routing.cascade_curve`). Training is the one minibatch Adam loop of
:func:`tandem.models.ranking.train_next_item` (a next-item model is a classifier over items).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.ranking import LossFn, cross_entropy_loss, train_next_item

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def as_features(x: Any, where: str) -> torch.Tensor:
    """``x`` as a float32 tensor ``[n, ...]`` with finite values, or ConfigError naming ``where``."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.to(torch.float32)
    if t.ndim < 1 or t.shape[0] == 0:
        raise ConfigError(f"{where}: need at least one example, got features of shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{where}: the features contain NaN or Inf")
    return t


def as_labels(y: Any, n: int, where: str) -> torch.Tensor:
    """``y`` as int64 labels ``[n]``, or ConfigError naming ``where``."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if t.ndim != 1 or t.shape[0] != n or (t.is_floating_point() and not bool((t == t.round()).all())):
        raise ConfigError(f"{where}: labels must be {n} integers (one per example), got shape {tuple(t.shape)}")
    return t.to(torch.int64)


def train_classifier(
    model: ModuleT,
    x: Any,
    y: Any,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    loss_fn: LossFn = cross_entropy_loss,
    on_epoch: Callable[[int], None] | None = None,
) -> ModuleT:
    """Train ``model`` (features -> logits) in place on ``(x, y)`` with Adam; returns it in eval mode."""
    features = as_features(x, "train_classifier")
    labels = as_labels(y, features.shape[0], "train_classifier")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(
            f"train_classifier: need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    torch.manual_seed(seed)
    return train_next_item(
        model,
        features.numpy(),
        labels.numpy(),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        loss_fn=loss_fn,
        on_epoch=on_epoch,
    )


@torch.no_grad()
def predict_proba(model: nn.Module, x: Any) -> np.ndarray:
    """Class probabilities ``float64 [n, classes]`` of ``model`` on ``x`` (softmax of its logits)."""
    model.eval()
    logits = model(as_features(x, "predict_proba"))
    return torch.softmax(logits.to(torch.float64), dim=-1).numpy()


def accuracy(model: nn.Module, x: Any, y: Any) -> float:
    """Share of ``x`` whose top class is ``y``."""
    probs = predict_proba(model, x)
    labels = as_labels(y, probs.shape[0], "accuracy").numpy()
    return float(np.mean(probs.argmax(1) == labels))
