"""The device's small model: a fastText-style classifier over hashed n-grams, and its training loops.

``mean(E[ids]) @ W + b`` over the non-padding n-gram ids of a sentence (Joulin et al., "Bag of Tricks for
Efficient Text Classification", EACL 2017). With ``dim`` = None the table maps each n-gram straight to class
scores (a linear model on averaged hashed features); with ``dim`` = d it is low-rank (``E [buckets, d]``,
``W [d, classes]``). Either way it is linear in the bag of n-grams: one gather, one sum, one small matmul, far
under a millisecond on a phone core.

Training uses cross-entropy on labels (:func:`train_small`) or Hinton distillation from the cloud's class
probabilities, which needs no labels (:func:`tandem.delivery.distill.distillation_loss` with ``alpha=1``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.delivery.distill import distillation_loss
from tandem.models.progress import progress_bar

ModuleT = TypeVar("ModuleT", bound=nn.Module)

Valid = tuple[np.ndarray, np.ndarray]
"""Validation ``(ids, labels)``: training keeps the epoch with the best accuracy on it (early stopping)."""


class HashedNgramClassifier(nn.Module):
    """Mean of hashed n-gram embeddings, then a linear layer; input ``int64 [batch, width]`` padded with 0."""

    def __init__(self, n_buckets: int = 2**18, n_classes: int = 2, dim: int | None = None) -> None:
        super().__init__()
        if n_buckets < 2 or n_classes < 2 or (dim is not None and dim < 1):
            raise ConfigError(f"HashedNgramClassifier: need n_buckets >= 2, n_classes >= 2, dim >= 1 or None; "
                              f"got {n_buckets}, {n_classes}, {dim}")
        width = n_classes if dim is None else dim
        self.embedding = nn.Embedding(n_buckets + 1, width, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.01)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.out = nn.Identity() if dim is None else nn.Linear(dim, n_classes)
        self.bias = nn.Parameter(torch.zeros(n_classes)) if dim is None else None

    @property
    def n_buckets(self) -> int:
        return self.embedding.num_embeddings - 1

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).to(self.embedding.weight.dtype)
        summed = (self.embedding(ids) * mask.unsqueeze(-1)).sum(1)
        pooled = summed / mask.sum(1, keepdim=True).clamp_min(1.0)
        logits = self.out(pooled)
        return logits + self.bias if self.bias is not None else logits


def _check(ids: np.ndarray, rows: int, what: str) -> torch.Tensor:
    x = torch.as_tensor(ids)
    if x.dim() != 2 or x.dtype not in (torch.int64, torch.int32) or x.shape[0] != rows:
        raise ConfigError(f"{what}: ids must be an int [{rows}, width] matrix, got {x.dtype} {list(x.shape)}")
    return x.long()


def _fit(model: ModuleT, x: torch.Tensor, loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
         epochs: int, batch_size: int, lr: float, weight_decay: float, seed: int, progress: bool, label: str,
         valid: Valid | None = None, patience: int = 3) -> ModuleT:
    if epochs < 1 or batch_size < 1 or lr <= 0 or patience < 1:
        raise ConfigError(f"{label}: need epochs >= 1, batch_size >= 1, lr > 0 and patience >= 1")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, bad = -1.0, None, 0
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=epochs)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(x.shape[0], generator=gen)
            for lo in range(0, len(order), batch_size):
                idx = order[lo:lo + batch_size]
                batch = x[idx]
                batch = batch[:, : int((batch != 0).sum(1).max())]  # drop all-padding columns
                opt.zero_grad(set_to_none=True)
                loss = loss_of(model(batch), idx)
                loss.backward()
                opt.step()
            bar.advance(task)
            if valid is not None:
                acc = float(np.mean(predict_proba(model, valid[0]).argmax(1) == np.asarray(valid[1])))
                if acc > best:
                    best, best_state, bad = acc, copy.deepcopy(model.state_dict()), 0
                else:
                    bad += 1
                    if bad >= patience:
                        break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


def train_small(model: ModuleT, ids: np.ndarray, labels: np.ndarray, *, epochs: int = 5, batch_size: int = 256,
                lr: float = 0.02, weight_decay: float = 0.0, valid: Valid | None = None, patience: int = 3,
                seed: int = 0, progress: bool = False) -> ModuleT:
    """Train ``model`` in place on ``(ids, labels)`` by cross-entropy with Adam; returns it in eval mode.

    With ``valid``, at most ``epochs`` epochs run, stopping after ``patience`` without a better validation
    accuracy, and the best epoch's weights are kept.
    """
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    x = _check(ids, y.shape[0], "train_small")
    torch.manual_seed(seed)
    return _fit(model, x, lambda logits, idx: nn.functional.cross_entropy(logits, y[idx]), epochs=epochs,
                batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress,
                label="small model on labels", valid=valid, patience=patience)


def distill_small(model: ModuleT, ids: np.ndarray, teacher_probs: np.ndarray, *, labels: np.ndarray | None = None,
                  temperature: float = 1.0, alpha: float = 1.0, epochs: int = 5, batch_size: int = 256,
                  lr: float = 0.02, weight_decay: float = 0.0, valid: Valid | None = None, patience: int = 3,
                  seed: int = 0, progress: bool = False) -> ModuleT:
    """Distil the cloud's class probabilities ``teacher_probs [n, C]`` into ``model`` (Hinton et al., 2015).

    ``alpha = 1`` uses the teacher alone (unlabeled sentences); with ``labels`` and ``alpha < 1`` the loss adds
    ``(1 - alpha)`` cross-entropy. ``temperature`` softens both distributions (the teacher's log-probabilities
    are divided by it, which is the same as softening its logits). ``valid`` early-stops as in
    :func:`train_small`.
    """
    p = np.asarray(teacher_probs, dtype=np.float64)
    if p.ndim != 2 or not np.all(np.isfinite(p)) or np.any(p < 0) or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ConfigError(f"distill_small: teacher_probs must be finite probability rows [n, C], got shape {p.shape}")
    x = _check(ids, p.shape[0], "distill_small")
    teacher = torch.as_tensor(np.log(np.clip(p, 1e-12, None)), dtype=torch.float32)
    y = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if y is not None and y.shape != (p.shape[0],):
        raise ConfigError(f"distill_small: labels must have shape [{p.shape[0]}], got {list(y.shape)}")
    if y is None and alpha < 1.0:
        raise ConfigError("distill_small: alpha < 1 mixes in cross-entropy and needs labels")
    torch.manual_seed(seed)

    def loss_of(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return distillation_loss(logits, teacher[idx], None if y is None else y[idx], temperature, alpha)

    return _fit(model, x, loss_of, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                progress=progress, label="small model distilled from the cloud", valid=valid, patience=patience)


@torch.no_grad()
def predict_proba(model: nn.Module, ids: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """``float64 [n, C]`` class probabilities of ``model`` on ``ids`` (eval mode, no gradient)."""
    x = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
    if x.dim() != 2:
        raise ConfigError(f"predict_proba: ids must be [rows, width], got {list(x.shape)}")
    model.eval()
    parts = [torch.softmax(model(x[lo:lo + batch_size]), -1) for lo in range(0, x.shape[0], batch_size)]
    return torch.cat(parts).double().numpy() if parts else np.zeros((0, 2))
