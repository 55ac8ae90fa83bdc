"""On-device fine-tuning: the delivered small model adapts to its one user's own sequence.

The classic way to personalize a delivered model (on-device model patching in Yao et al., "Device-Cloud
Collaborative Learning for Recommendation", KDD 2021; the fine-tuning baseline of DUET and DIET): a few
gradient steps of next-item cross-entropy on the user's own recent items, on the device, starting from the
shared model. Only the parameters selected by ``trainable`` move (default: everything but the item-embedding
table, so one user's clicks cannot reshape the catalogue). It costs device compute (reported as FLOPs),
unlike mask or hypernetwork delivery, which need no device gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.models.seqrec import SequentialRecommender
from tandem.models.seqrec_data import pad_left
from tandem.models.seqrec_training import full_softmax_loss

TRAINABLE = ("encoder", "all", "norms")


def trainable_names(model: SequentialRecommender, trainable: str = "encoder") -> list[str]:
    """Parameter names updated on the device: ``encoder`` (all but item embeddings), ``all`` or ``norms``."""
    if trainable not in TRAINABLE:
        raise ConfigError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
    names = [n for n, _ in model.named_parameters()]
    if trainable == "all":
        return names
    if trainable == "norms":
        return [n for n in names if "norm" in n]
    return [n for n in names if not n.startswith("item_embedding")]


def finetune_on_sequence(model: SequentialRecommender, sequence: np.ndarray, *, steps: int = 5, lr: float = 1e-3,
                         trainable: str = "encoder") -> SequentialRecommender:
    """A copy of ``model`` after ``steps`` Adam steps on every position of the user's own ``sequence``."""
    if steps < 0 or lr <= 0:
        raise ConfigError(f"finetune_on_sequence: need steps >= 0 and lr > 0, got {steps}, {lr}")
    local = copy.deepcopy(model)
    sequence = np.asarray(sequence, dtype=np.int64)
    if steps == 0 or sequence.size < 2:
        return local.eval()
    names = set(trainable_names(local, trainable))
    params = [p for n, p in local.named_parameters() if n in names]
    for n, p in local.named_parameters():
        p.requires_grad_(n in names)
    window = sequence[-(local.max_len + 1) :]
    inputs = torch.as_tensor(pad_left([window[:-1]], local.max_len))
    targets = torch.as_tensor(pad_left([window[1:]], local.max_len))
    where = targets > 0
    optimizer = torch.optim.Adam(params, lr=lr)
    local.train()
    with torch.enable_grad():  # callers may be inside no_grad (evaluation code)
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            full_softmax_loss(local, inputs, targets[where], where).backward()
            optimizer.step()
    for p in local.parameters():
        p.requires_grad_(True)
    return local.eval()


def finetuned_logits(model: SequentialRecommender, sequences: Sequence[np.ndarray], histories: np.ndarray, *,
                     steps: int = 5, lr: float = 1e-3, trainable: str = "encoder",
                     progress: bool = False) -> torch.Tensor:
    """Logits ``[n, n_items + 1]``: each user's model, fine-tuned on ``sequences[i]``, scores ``histories[i]``."""
    if len(sequences) != len(histories):
        raise ConfigError(f"finetuned_logits: {len(sequences)} sequences for {len(histories)} histories")
    rows = []
    with progress_bar(progress) as bar:
        task = bar.add_task("device: fine-tune per user", total=len(sequences))
        for seq, hist in zip(sequences, histories, strict=True):
            local = finetune_on_sequence(model, seq, steps=steps, lr=lr, trainable=trainable)
            with torch.no_grad():
                rows.append(local(torch.as_tensor(hist).view(1, -1))[0])
            bar.advance(task)
    return torch.stack(rows) if rows else torch.zeros(0, model.n_items + 1)


def finetune_flops(model: SequentialRecommender, steps: int = 5) -> float:
    """Device FLOPs of one user's fine-tuning: ``steps`` x 3 forwards (forward + backward), each scoring every
    item at all ``max_len`` positions of the window."""
    return 3.0 * steps * model.flops_per_example(n_candidates=model.max_len * (model.n_items + 1))
