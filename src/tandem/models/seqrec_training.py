"""Training sequential recommenders: every-position next-item loss, Adam, early stopping on validation.

Each training window predicts the next item at every non-padding position (SASRec's objective, Kang &
McAuley 2018), scored with a full softmax over all items (cross-entropy), which trains SASRec far better
than the original one-negative binary loss (Klenitskiy & Vasilev, "Turning Dross Into Gold Loss",
RecSys 2023). The loss is a parameter, so distillation (:mod:`tandem.delivery.seqrec_distill`) reuses this
loop. Training stops when the validation metric has not improved for ``patience`` evaluations, or
after ``max_seconds``, and the best weights are restored.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset
from tandem.models.progress import progress_bar
from tandem.models.seqrec import SequentialRecommender
from tandem.models.seqrec_data import SeqRecSplit, training_windows
from tandem.models.seqrec_eval import evaluate_seqrec

PositionLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(logits [P, n_items + 1], targets [P], inputs [B, L], where [B, L] bool)`` over the P labelled positions."""


def cross_entropy_positions(logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor,
                            where: torch.Tensor) -> torch.Tensor:
    """Full-softmax next-item cross-entropy (``inputs`` / ``where`` unused; they serve distillation)."""
    return F.cross_entropy(logits, targets)


def position_logits(model: SequentialRecommender, inputs: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Logits ``[P, n_items + 1]`` at the ``where`` positions of ``inputs``; padding id 0 scores ``-inf``."""
    logits = model.item_scores(model.encode(inputs)[where])
    logits[:, 0] = float("-inf")
    return logits


@dataclass
class FitResult:
    """What a training run did: the validation curve, the best epoch and its metrics, the time it took."""

    best_epoch: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0
    stopped: str = "epochs"


def fit_seqrec(
    model: SequentialRecommender,
    train: SequenceDataset,
    split: SeqRecSplit | None = None,
    *,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 5,
    metric: str = "ndcg@10",
    loss_fn: PositionLoss = cross_entropy_positions,
    max_seconds: float | None = None,
    seed: int = 0,
    progress: bool = False,
    description: str = "train",
) -> FitResult:
    """Train ``model`` in place on ``train`` windows; early-stop on ``split``'s validation users if given."""
    if epochs < 1 or batch_size < 1 or lr <= 0 or patience < 1:
        raise ConfigError(f"fit_seqrec: need epochs, batch_size, patience >= 1 and lr > 0; got {epochs}, "
                          f"{batch_size}, {patience}, {lr}")
    if train.n_items != model.n_items:
        raise ConfigError(f"fit_seqrec: data has {train.n_items} items, model has {model.n_items}")
    inputs, targets = training_windows(train, model.max_len)
    if len(inputs) == 0:
        raise ConfigError("fit_seqrec: no training windows (every sequence is shorter than 2 items)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result, best_state, bad, start = FitResult(), None, 0, time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task(description, total=epochs)
        for epoch in range(1, epochs + 1):
            loss = _train_epoch(model, optimizer, inputs, targets, batch_size, loss_fn, rng)
            row = {"epoch": float(epoch), "loss": loss}
            if split is not None:
                row.update(evaluate_seqrec(model, split.valid_histories, split.valid_targets, seen=split.valid_seen))
                if best_state is None or row[metric] > result.best_metrics.get(metric, -1.0):
                    result.best_epoch, result.best_metrics, bad = epoch, dict(row), 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
            result.curve.append(row)
            result.epochs_run = epoch
            bar.update(task, advance=1, description=f"{description} loss {loss:.3f} {metric} {row.get(metric, 0):.4f}")
            if bad >= patience:
                result.stopped = "early stopping"
                break
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                result.stopped = "time budget"
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _train_epoch(model: SequentialRecommender, optimizer: torch.optim.Optimizer, inputs: np.ndarray,
                 targets: np.ndarray, batch_size: int, loss_fn: PositionLoss, rng: np.random.Generator) -> float:
    model.train()
    order = rng.permutation(len(inputs))
    total, count = 0.0, 0
    for lo in range(0, len(order), batch_size):
        idx = order[lo : lo + batch_size]
        inp, tgt = torch.as_tensor(inputs[idx]), torch.as_tensor(targets[idx])
        width = int((inp > 0).sum(1).max())  # left padding: keep only the columns some row uses
        inp, tgt = inp[:, -width:], tgt[:, -width:]
        where = tgt > 0
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(position_logits(model, inp, where), tgt[where], inp, where)
        loss.backward()
        optimizer.step()
        total, count = total + float(loss) * len(idx), count + len(idx)
    model.eval()
    return total / max(count, 1)
