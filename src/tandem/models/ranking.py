"""Turning item sequences into next-item examples, training on them, and ranking metrics.

Pure functions shared by the demo, delivery benchmarks and routing: HR@k and NDCG@k are computed
with full ranking over every item (the target's rank among all item scores), the protocol of
SASRec/S3-Rec style evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tandem.core.errors import ConfigError

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def next_item_examples(
    sequences: Sequence[np.ndarray], window: int, start: int = 1, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(histories [n, window], targets [n])`` for positions ``start <= t < stop`` of each sequence.

    The history of position ``t`` is the ``window`` items before it, left-padded with 0. ``stop``
    of ``None`` means the end of each sequence; negative values count from the end.
    """
    if window < 1 or start < 1:
        raise ConfigError(f"next_item_examples: need window >= 1 and start >= 1, got {window}, {start}")
    histories: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        end = len(seq) if stop is None else (stop if stop >= 0 else len(seq) + stop)
        positions = np.arange(start, max(start, min(end, len(seq))))
        if positions.size == 0:
            continue
        padded = np.concatenate([np.zeros(window, dtype=np.int64), seq])
        offsets = positions[:, None] + np.arange(window)[None, :]
        histories.append(padded[offsets])
        targets.append(seq[positions])
    if not histories:
        return np.zeros((0, window), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(histories), np.concatenate(targets)


def rank_of_target(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target among all scores (ties counted pessimistically)."""
    target_scores = logits.gather(1, targets.view(-1, 1))
    return (logits > target_scores).sum(1) + (logits == target_scores).sum(1) - 1


def hit_rate_and_ndcg(ranks: torch.Tensor, k: int) -> tuple[float, float]:
    """HR@k and NDCG@k (one relevant item per example) from 0-based ranks."""
    if ranks.numel() == 0:
        return 0.0, 0.0
    hit = ranks < k
    gains = torch.where(hit, 1.0 / torch.log2(ranks.to(torch.float64) + 2.0), torch.zeros((), dtype=torch.float64))
    return float(hit.to(torch.float64).mean()), float(gains.mean())


@torch.no_grad()
def evaluate_ranking(
    model: nn.Module, histories: np.ndarray, targets: np.ndarray, k: int = 10, batch_size: int = 2048
) -> dict[str, float]:
    """Full-ranking HR@k and NDCG@k of ``model`` on the given next-item examples."""
    model.eval()
    ranks = []
    for lo in range(0, len(targets), batch_size):
        logits = model(torch.as_tensor(histories[lo : lo + batch_size]))
        ranks.append(rank_of_target(logits, torch.as_tensor(targets[lo : lo + batch_size])))
    hr, ndcg = hit_rate_and_ndcg(torch.cat(ranks) if ranks else torch.zeros(0), k)
    return {f"hr@{k}": hr, f"ndcg@{k}": ndcg}


LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor, histories: torch.Tensor) -> torch.Tensor:
    """Plain next-item cross-entropy (the ``histories`` argument is unused but keeps one signature)."""
    return F.cross_entropy(logits, targets)


def train_next_item(
    model: ModuleT,
    histories: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int = 3,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    loss_fn: LossFn = cross_entropy_loss,
    on_epoch: Callable[[int], None] | None = None,
) -> ModuleT:
    """Train ``model`` in place with Adam on shuffled minibatches; returns the model."""
    if len(targets) == 0:
        raise ConfigError("train_next_item: no training examples")
    generator = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    hist_t, targ_t = torch.as_tensor(histories), torch.as_tensor(targets)
    model.train()
    for epoch in range(epochs):
        order = torch.as_tensor(generator.permutation(len(targets)))
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(hist_t[idx]), targ_t[idx], hist_t[idx])
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch)
    model.eval()
    return model
