"""Knowledge distillation, large -> small: the cloud's model teaches the device's.

Hinton et al., "Distilling the Knowledge in a Neural Network" (2015): the student minimises
``alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels)``.
Teacher logits are computed on the fly, so unlabeled inputs work with ``alpha = 1``. Two entry points:
:func:`distill_classifier` (feature arrays, e.g. a user's own NumPy data) and :func:`distill_next_item`
(next-item recommenders).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.models.classifier import as_features, as_labels, train_classifier
from tandem.models.ranking import train_next_item

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor | None,
    temperature: float = 1.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """The Hinton distillation objective; masked (-inf) logits such as padding ids are ignored."""
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"distillation_loss: need temperature > 0 and 0 <= alpha <= 1, got {temperature}, {alpha}")
    finite = torch.isfinite(teacher_logits) & torch.isfinite(student_logits)
    s = torch.where(finite, student_logits, torch.full_like(student_logits, -1e9)) / temperature
    t = torch.where(finite, teacher_logits, torch.full_like(teacher_logits, -1e9)) / temperature
    soft = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")
    loss = alpha * temperature**2 * soft
    if targets is not None and alpha < 1.0:
        loss = loss + (1.0 - alpha) * F.cross_entropy(student_logits, targets)
    return loss


def distill_next_item(
    teacher: nn.Module,
    student: ModuleT,
    histories: np.ndarray,
    targets: np.ndarray,
    *,
    temperature: float = 1.0,
    alpha: float = 0.5,
    epochs: int = 3,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    on_epoch: Callable[[int], None] | None = None,
) -> ModuleT:
    """Train ``student`` in place to match ``teacher`` on next-item examples; returns the student."""
    teacher.eval()

    def loss_fn(logits: torch.Tensor, batch_targets: torch.Tensor, batch_histories: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(batch_histories)
        return distillation_loss(logits, teacher_logits, batch_targets, temperature, alpha)

    return train_next_item(
        student, histories, targets, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        loss_fn=loss_fn, on_epoch=on_epoch,
    )


def distill_classifier(
    teacher: nn.Module,
    student: ModuleT,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | None = None,
    *,
    temperature: float = 2.0,
    alpha: float = 0.5,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> ModuleT:
    """Train ``student`` in place to match ``teacher``'s softened outputs on ``x``; returns the student.

    With labels ``y`` the loss mixes in cross-entropy (weight ``1 - alpha``); without, ``alpha`` must be 1
    (pure distillation from unlabelled inputs, which is what a cloud holding only device inputs can do).
    """
    features = as_features(x, "distill_classifier")
    if y is None and alpha != 1.0:
        raise ConfigError(f"distill_classifier: without labels y, alpha must be 1 (pure distillation), got {alpha}")
    labels = torch.zeros(features.shape[0], dtype=torch.int64) if y is None else as_labels(
        y, features.shape[0], "distill_classifier"
    )
    distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), None, temperature, alpha)  # checks the knobs first
    teacher.eval()

    def loss_fn(logits: torch.Tensor, batch_labels: torch.Tensor, batch_x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(batch_x)
        return distillation_loss(logits, teacher_logits, None if y is None else batch_labels, temperature, alpha)

    return train_classifier(
        student, features, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, loss_fn=loss_fn
    )
