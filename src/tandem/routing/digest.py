"""A per-step digest of the small model's ranking: everything a policy replay needs, computed once.

The small model's scores at a step depend only on the step's history, and the items excluded (already
clicked) too, never on the request policy. So one pass over the catalogue per step suffices for every
policy replayed afterwards: it keeps the ``depth`` best log-probabilities and ids (sorted), the target's
log-probability, the log-partition (to score any held candidate later as ``logit - logz``) and the
confidence signals. With ``depth >= k + n_candidates + 1`` the target's rank is exact whenever it is
inside the top ``k`` (see :mod:`tandem.routing.combine`), which is all NDCG@k and HR@k need; a replay then
costs ``O(candidates)`` per step instead of ``O(catalogue)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.routing.scorers import DeviceScorer
from tandem.routing.signals import confidence_signals
from tandem.routing.streams import Streams


@dataclass
class SmallDigest:
    """Per-step arrays (row = global step id) of the small model over the unseen catalogue."""

    top_logp: torch.Tensor
    top_ids: torch.Tensor
    target_logp: torch.Tensor
    logz: torch.Tensor
    n_unseen: torch.Tensor
    confidence: torch.Tensor
    entropy: torch.Tensor
    margin: torch.Tensor

    @property
    def depth(self) -> int:
        return int(self.top_logp.shape[1])

    @property
    def n_steps(self) -> int:
        return int(self.top_logp.shape[0])


def seen_mask(streams: Streams, steps: np.ndarray) -> torch.Tensor:
    """``bool [B, n_items + 1]``: the items each step's user clicked before it (column 0, padding, set too)."""
    pos = streams.step_position[steps]
    hist = torch.as_tensor(streams.histories(steps, int(pos.max(initial=1)), int(pos.max(initial=1))))
    mask = torch.zeros(len(steps), streams.n_items + 1, dtype=torch.bool)
    mask.scatter_(1, hist, True)
    mask[:, 0] = True
    return mask


@torch.no_grad()
def build_digest(streams: Streams, device: DeviceScorer, depth: int, *, batch_size: int = 1024,
                 progress: bool = False) -> SmallDigest:
    """Score every step once with ``device`` and keep the digest (``depth`` best unseen items per step)."""
    if depth < 2:
        raise ConfigError(f"build_digest: depth must be >= 2, got {depth}")
    n, depth = streams.n_steps, min(depth, streams.n_items)
    out = SmallDigest(torch.full((n, depth), float("-inf")), torch.zeros(n, depth, dtype=torch.int64),
                      torch.zeros(n), torch.zeros(n), torch.zeros(n, dtype=torch.int64), torch.zeros(n),
                      torch.zeros(n), torch.zeros(n))
    order = np.argsort(streams.step_position, kind="stable")
    batches = [order[lo : lo + batch_size] for lo in range(0, n, batch_size)]
    with progress_bar(progress) as bar:
        task = bar.add_task("device model: step digest", total=len(batches))
        for steps in batches:
            seen = seen_mask(streams, steps)
            logits = device.logits(streams, steps).float().masked_fill(seen, float("-inf"))
            logz = torch.logsumexp(logits, dim=1)
            logp = logits - logz.view(-1, 1)
            values, ids = logp.topk(depth, dim=1)
            idx = torch.as_tensor(steps)
            out.top_logp[idx], out.top_ids[idx] = values, torch.where(torch.isfinite(values), ids, 0)
            out.target_logp[idx] = logp.gather(1, torch.as_tensor(streams.targets(steps)).view(-1, 1)).squeeze(1)
            out.logz[idx], out.n_unseen[idx] = logz, (~seen).sum(1)
            out.confidence[idx], out.entropy[idx], out.margin[idx] = confidence_signals(logp, values)
            bar.advance(task)
    return out
