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

PositionLoss = Callable[[SequentialRecommender, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(model, inputs [B, L], targets [P], where [B, L] bool)``: mean loss over the P labelled positions."""


def position_logits(model: SequentialRecommender, inputs: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Logits ``[P, n_items + 1]`` at the ``where`` positions of ``inputs``; padding id 0 scores ``-inf``."""
    logits = model.item_scores(model.encode(inputs)[where])
    logits[:, 0] = float("-inf")
    return logits


def full_softmax_loss(model: SequentialRecommender, inputs: torch.Tensor, targets: torch.Tensor,
                      where: torch.Tensor) -> torch.Tensor:
    """Next-item cross-entropy over every item (the default; exact but costs ``n_items`` scores a position)."""
    return F.cross_entropy(position_logits(model, inputs, where), targets)


def sampled_softmax_loss(n_negatives: int = 1024, seed: int = 0) -> PositionLoss:
    """Cross-entropy over the target and ``n_negatives`` uniformly drawn items shared by the batch.

    A uniform proposal needs no log-probability correction (it is constant), and accidental hits
    (a negative equal to the target) are removed. With about a thousand negatives SASRec trains nearly as
    well as with the full softmax at a fraction of the cost on large catalogues (Klenitskiy & Vasilev 2023).
    """
    if n_negatives < 1:
        raise ConfigError(f"sampled_softmax_loss: n_negatives must be >= 1, got {n_negatives}")
    generator = torch.Generator().manual_seed(seed)

    def loss(model: SequentialRecommender, inputs: torch.Tensor, targets: torch.Tensor,
             where: torch.Tensor) -> torch.Tensor:
        hidden = model.encode(inputs)[where]
        negatives = torch.randint(1, model.n_items + 1, (n_negatives,), generator=generator)
        table = model.item_embedding.weight
        positive = (hidden * table[targets]).sum(-1, keepdim=True)
        negative = hidden @ table[negatives].T
        negative = negative.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
        logits = torch.cat([positive, negative], 1)
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long))

    return loss


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
    loss_fn: PositionLoss = full_softmax_loss,
    max_seconds: float | None = None,
    seed: int = 0,
    progress: bool = False,
    description: str = "train",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``model`` in place on ``train`` windows; early-stop on ``split``'s validation users if given.

    ``on_epoch`` receives each epoch's row (loss and validation metrics), e.g. to log a long run.
    """
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
            if on_epoch is not None:
                on_epoch(row)
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


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                            bucket_batches: int = 32) -> list[np.ndarray]:
    """Shuffled minibatches of row indices whose rows have similar lengths. Pure given ``rng``.

    Rows are shuffled, cut into chunks of ``bucket_batches`` batches, sorted by length inside each chunk and
    cut into batches, whose order is shuffled again: batches stay random but carry little padding, so a
    short-sequence data set (Beauty: 9 items a user on average) does not pay for 50 columns everywhere.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    chunk = batch_size * bucket_batches
    for lo in range(0, len(order), chunk):
        part = order[lo : lo + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _train_epoch(model: SequentialRecommender, optimizer: torch.optim.Optimizer, inputs: np.ndarray,
                 targets: np.ndarray, batch_size: int, loss_fn: PositionLoss, rng: np.random.Generator) -> float:
    model.train()
    total, count = 0.0, 0
    for idx in length_bucketed_batches((inputs > 0).sum(1), batch_size, rng):
        inp, tgt = torch.as_tensor(inputs[idx]), torch.as_tensor(targets[idx])
        width = int((inp > 0).sum(1).max())  # left padding: keep only the columns some row uses
        inp, tgt = inp[:, -width:], tgt[:, -width:]
        where = tgt > 0
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, inp, tgt[where], where)
        loss.backward()
        optimizer.step()
        total, count = total + float(loss.detach()) * len(idx), count + len(idx)
    model.eval()
    return total / max(count, 1)
