"""On-device re-ranking of the cloud's candidate list with fresh clicks (EdgeRec-style).

EdgeRec (Gong et al., "EdgeRec: Recommender System on Edge in Mobile Taobao", CIKM 2020) keeps the cloud's
candidate list on the phone and re-ranks it on the device with the user's real-time behaviour, which the
cloud has not seen yet. tandem's re-ranker scores each candidate by three terms:

* the cloud's log-probability when it made the list (what the large model knew then),
* the small model's log-probability on the fresh history (what the device knows now),
* the candidate's cosine similarity to the clicks made since the list arrived (device item embeddings),

and the device shows candidates in that order (already-clicked candidates removed). The device only scores
``N`` candidates, not the catalogue: that is what makes the EdgeRec design cheap on a phone.
"""

from __future__ import annotations

import torch

from tandem.core.errors import ConfigError


def fresh_click_similarity(cand_ids: torch.Tensor, fresh_ids: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` largest cosine between each candidate and the fresh clicks ``[B, M]`` (0 pads; 0 if none). Pure."""
    if cand_ids.dim() != 2 or fresh_ids.dim() != 2 or cand_ids.shape[0] != fresh_ids.shape[0]:
        raise ConfigError(f"fresh_click_similarity: need [B, N] and [B, M] ids, got {list(cand_ids.shape)}, "
                          f"{list(fresh_ids.shape)}")
    if fresh_ids.shape[1] == 0:
        return torch.zeros(cand_ids.shape)
    unit = torch.nn.functional.normalize(item_vectors.float(), dim=1)
    cos = torch.einsum("bnd,bmd->bnm", unit[cand_ids], unit[fresh_ids])
    valid = (fresh_ids > 0).unsqueeze(1) & (cand_ids > 0).unsqueeze(2)
    best = torch.where(valid, cos, torch.full_like(cos, float("-inf"))).amax(2)
    return torch.where(torch.isfinite(best), best, torch.zeros_like(best))


def rerank_scores(cloud_logp: torch.Tensor, small_logp: torch.Tensor, similarity: torch.Tensor,
                  weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """``a * cloud + b * small + c * similarity`` per candidate (``[B, N]`` each); ``-inf`` stays ``-inf``. Pure."""
    if not cloud_logp.shape == small_logp.shape == similarity.shape:
        raise ConfigError("rerank_scores: cloud_logp, small_logp and similarity must have one shape [B, N]")
    a, b, c = weights
    if min(a, b) < 0:
        raise ConfigError(f"rerank_scores: the log-probability weights must be >= 0, got {weights}")
    finite = torch.isfinite(cloud_logp) & torch.isfinite(small_logp)
    zero = torch.zeros((), dtype=cloud_logp.dtype)
    score = a * torch.where(finite, cloud_logp, zero) + b * torch.where(finite, small_logp, zero) + c * similarity
    return torch.where(finite, score, torch.full_like(score, float("-inf")))
