"""Score fusion of the large and small models: pure functions on log-probabilities.

The cloud sends only its top-``N`` items with their log-probabilities; an item it did not send scored at
most the lowest one it did, so that lowest value is the cloud's log-probability for everything else
(:func:`cloud_log_probs`). Fusion is then a weighted sum of the two models' log-probabilities (a product
of experts, the geometric mixture used to combine rankers; Hinton, "Training products of experts by
minimizing contrastive divergence", Neural Computation 2002), on the device, over the whole catalogue:
the fresh small model re-orders what the stale large model knew, and covers what it did not send.
"""

from __future__ import annotations

import torch

from tandem.core.errors import ConfigError


def candidate_floor(cand_ids: torch.Tensor, cand_logp: torch.Tensor,
                    caller: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(valid [B, N], has [B], floor [B])`` of a cloud answer: usable candidates, rows with any, lowest log-prob.

    A candidate is usable when its id is not 0 and its log-prob is finite; ``floor`` is 0 for rows with none.
    ``caller`` names the function in the error for mismatched shapes. Pure.
    """
    if cand_ids.shape != cand_logp.shape or cand_ids.dim() != 2:
        raise ConfigError(f"{caller}: ids and logp must be equal [B, N], got {list(cand_ids.shape)}, "
                          f"{list(cand_logp.shape)}")
    valid = torch.isfinite(cand_logp) & (cand_ids > 0)
    has = valid.any(1)
    floor = torch.where(valid, cand_logp, torch.full_like(cand_logp, float("inf"))).min(1).values
    return valid, has, torch.where(has, floor, torch.zeros_like(floor))


def cloud_log_probs(cand_ids: torch.Tensor, cand_logp: torch.Tensor, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(full [B, n_items + 1], has [B])``: candidates keep their log-prob, every other item gets the row's floor.

    The floor is the smallest finite candidate log-prob; ``has`` is False for rows with no finite candidate
    (their ``full`` row is 0). Entries with id 0 or ``-inf`` (empty or already clicked) are ignored. Pure.
    """
    valid, has, floor = candidate_floor(cand_ids, cand_logp, "cloud_log_probs")
    full = floor.view(-1, 1).expand(-1, n_items + 1).clone()
    src = torch.where(valid, cand_logp, floor.view(-1, 1).expand_as(cand_logp))
    full.scatter_(1, torch.where(valid, cand_ids, torch.zeros_like(cand_ids)), src)
    full[:, 0] = floor  # id 0 is padding; it is masked by the caller anyway
    return full, has


def fuse_log_probs(small_logp: torch.Tensor, cand_ids: torch.Tensor, cand_logp: torch.Tensor,
                   weight: float | torch.Tensor = 0.5) -> torch.Tensor:
    """``(1 - weight) * small + weight * cloud`` over all items; rows without a cloud answer keep ``small``. Pure.

    ``small_logp`` is ``[B, n_items + 1]`` with ``-inf`` for excluded items, which stay excluded. ``weight`` is
    one number or one per row (``[B]``, e.g. lower for older answers: :class:`tandem.routing.combine.Fusion`).
    """
    w = torch.as_tensor(weight, dtype=small_logp.dtype)
    if w.dim() > 1 or (w.dim() == 1 and w.shape[0] != small_logp.shape[0]):
        raise ConfigError(f"fuse_log_probs: weight must be a number or one per row, got shape {list(w.shape)}")
    if not bool(((w >= 0.0) & (w <= 1.0)).all()):
        raise ConfigError(f"fuse_log_probs: weight must be in [0, 1], got {weight}")
    valid, has, floor = candidate_floor(cand_ids, cand_logp, "fuse_log_probs")
    w = w.view(-1, 1) if w.dim() == 1 else w
    # (1 - w) * small + w * floor everywhere, then + w * (logp - floor) at the candidates: no [B, items] cloud matrix
    finite = torch.isfinite(small_logp)
    fused = torch.where(finite, torch.where(finite, small_logp, 0.0) * (1.0 - w) + w * floor.view(-1, 1), small_logp)
    bump = torch.where(valid, w * (cand_logp - floor.view(-1, 1)), torch.zeros_like(cand_logp))
    fused = fused.scatter_add(1, torch.where(valid, cand_ids, torch.zeros_like(cand_ids)), bump)
    if not bool(has.all()):  # rows without an answer keep the small model's scores
        fused[~has] = small_logp[~has]
    return fused
