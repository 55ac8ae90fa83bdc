"""HR@k and NDCG@k of sequential recommenders: full ranking (default) or 100 sampled negatives.

Full ranking scores every item and takes the target's rank among all of them, the protocol of S3-Rec
(Zhou et al., CIKM 2020) and its successors (CL4SRec, ICLRec, DuoRec), which is what published
"full-ranking" numbers use; the sampled protocol of SASRec (Kang & McAuley 2018) ranks the target among
``negatives`` random items the user has not interacted with (an easier, biased estimate: Krichene &
Rendle, KDD 2020). With ``exclude_seen`` the user's earlier items are removed from the ranking, as the
S3-Rec evaluation code does (the target itself is never removed). Ties count against the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset
from tandem.models.ranking import hit_rate_and_ndcg, rank_of_target
from tandem.models.seqrec_data import trim_left_padding

Scorer = Callable[[torch.Tensor], torch.Tensor]
"""Maps a history batch ``[batch, L]`` to logits ``[batch, n_items + 1]`` (a model, or a personalized one)."""


def metrics_from_ranks(ranks: torch.Tensor, ks: Sequence[int] = (5, 10, 20)) -> dict[str, float]:
    """``{"hr@k": ..., "ndcg@k": ...}`` for each ``k`` from 0-based ranks. Pure."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr@{k}"], out[f"ndcg@{k}"] = hit_rate_and_ndcg(ranks, k)
    return out


def seen_mask_indices(seen: SequenceDataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(batch_row, item)`` pairs of the items in ``seen`` rows ``rows`` (row ``i`` of the batch = ``rows[i]``)."""
    lengths = seen.lengths[rows]
    batch_rows = np.repeat(np.arange(rows.size), lengths)
    starts = np.repeat(seen.offsets[rows], lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return batch_rows, seen.items[starts + within]


def sample_negatives(n_items: int, targets: np.ndarray, n: int, seen: SequenceDataset | None = None,
                     seed: int = 0) -> np.ndarray:
    """``int64 [batch, n]`` items drawn uniformly from 1..n_items, never the target or a seen item."""
    if n < 1 or n >= n_items:
        raise ConfigError(f"sample_negatives: need 1 <= n < n_items={n_items}, got {n}")
    rng = np.random.default_rng(seed)
    out = np.zeros((targets.size, n), dtype=np.int64)
    for i, target in enumerate(targets):
        banned = {int(target)} | (set(seen.sequence(i).tolist()) if seen is not None else set())
        if len(banned) + n > n_items:
            raise ConfigError(f"sample_negatives: user row {i} has too few unseen items for {n} negatives")
        chosen: list[int] = []
        while len(chosen) < n:
            draw = rng.integers(1, n_items + 1, size=2 * n)
            for item in draw.tolist():
                if item not in banned:
                    banned.add(item)
                    chosen.append(item)
                    if len(chosen) == n:
                        break
        out[i] = chosen
    return out


@torch.no_grad()
def target_ranks(scorer: Scorer, histories: np.ndarray, targets: np.ndarray, *, seen: SequenceDataset | None = None,
                 negatives: int | None = None, batch_size: int = 1024, seed: int = 0,
                 trim_padding: bool = True) -> torch.Tensor:
    """0-based rank of each target: among all items (``negatives=None``) or among sampled negatives.

    With ``trim_padding`` (full ranking only) users are batched by history length and each batch drops the
    padding columns no row uses: a causal model that masks padding scores the same, and on short-sequence
    data (Beauty: 9 items a user, 50 columns) evaluation is several times faster. Ranks come back in the
    input order. Pass ``False`` for a scorer that needs the full width (e.g. a fixed-shape exported graph).
    """
    histories, targets = np.asarray(histories), np.asarray(targets)
    if histories.ndim != 2 or targets.shape != (histories.shape[0],):
        raise ConfigError(f"target_ranks: need histories [n, L] and targets [n], got {histories.shape}, "
                          f"{targets.shape}")
    if seen is not None and seen.n_users != targets.size:
        raise ConfigError(f"target_ranks: seen has {seen.n_users} rows for {targets.size} targets")
    if isinstance(scorer, torch.nn.Module):
        scorer.eval()
    trim = trim_padding and negatives is None and histories.shape[1] > 1
    lengths = (histories > 0).sum(1)
    order = np.argsort(lengths, kind="stable") if trim else np.arange(targets.size)
    ranks = torch.zeros(targets.size, dtype=torch.int64)
    for lo in range(0, targets.size, batch_size):
        rows = order[lo : lo + batch_size]
        batch = trim_left_padding(histories[rows]) if trim else histories[rows]
        logits = scorer(torch.as_tensor(batch))
        ranks[torch.as_tensor(rows)] = batch_ranks(logits, targets[rows], rows, seen=seen, negatives=negatives,
                                                   seed=seed + lo)
    return ranks


def batch_ranks(logits: torch.Tensor, targets: np.ndarray, rows: np.ndarray, *, seen: SequenceDataset | None = None,
                negatives: int | None = None, seed: int = 0) -> torch.Tensor:
    """Ranks of ``targets`` under ``logits [batch, n_items + 1]`` for users ``rows`` of ``seen``."""
    logits = logits.detach().clone()
    tgt = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    if negatives is not None:
        batch_seen = None if seen is None else SequenceDataset.from_sequences(
            [seen.sequence(int(r)) for r in rows], seen.n_items)
        neg = torch.as_tensor(sample_negatives(logits.shape[1] - 1, np.asarray(targets), negatives, batch_seen,
                                               seed=seed))
        return rank_of_target(logits.gather(1, torch.cat([tgt.view(-1, 1), neg], 1)), torch.zeros_like(tgt))
    if seen is not None:
        target_scores = logits.gather(1, tgt.view(-1, 1))
        batch_rows, items = seen_mask_indices(seen, rows)
        logits[torch.as_tensor(batch_rows), torch.as_tensor(items)] = float("-inf")
        logits.scatter_(1, tgt.view(-1, 1), target_scores)
    return rank_of_target(logits, tgt)


def evaluate_logits(logits: torch.Tensor, targets: np.ndarray, rows: np.ndarray | None = None, *,
                    ks: Sequence[int] = (5, 10, 20), seen: SequenceDataset | None = None,
                    negatives: int | None = None, seed: int = 0) -> dict[str, float]:
    """HR@k / NDCG@k of precomputed logits (e.g. one fine-tuned model per user) for users ``rows`` of ``seen``."""
    rows = np.arange(len(targets)) if rows is None else np.asarray(rows)
    if logits.shape[0] != len(targets) or rows.shape != (len(targets),):
        raise ConfigError(f"evaluate_logits: {logits.shape[0]} logit rows, {len(targets)} targets, "
                          f"{rows.shape} rows")
    return metrics_from_ranks(batch_ranks(logits, targets, rows, seen=seen, negatives=negatives, seed=seed), ks)


def evaluate_seqrec(scorer: Scorer, histories: np.ndarray, targets: np.ndarray, *, ks: Sequence[int] = (5, 10, 20),
                    seen: SequenceDataset | None = None, negatives: int | None = None, batch_size: int = 1024,
                    seed: int = 0, trim_padding: bool = True) -> dict[str, float]:
    """HR@k and NDCG@k for each ``k`` in ``ks`` (see the module docs for the protocols)."""
    ranks = target_ranks(scorer, histories, targets, seen=seen, negatives=negatives, batch_size=batch_size,
                         seed=seed, trim_padding=trim_padding)
    return metrics_from_ranks(ranks, ks)
