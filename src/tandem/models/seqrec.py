"""The contract every sequential recommender in tandem meets, and the named cloud/device sizes.

A sequential recommender reads a user's item history (a left-padded ``[batch, length]`` matrix of item ids,
0 = padding, the newest item in the last column) and scores the next item. Subclasses implement
:meth:`SequentialRecommender.encode` (one hidden vector per position) and :meth:`flops_per_example`;
the base class turns hidden vectors into scores with the tied item-embedding table, so one model serves
full ranking in the cloud (``forward``: every item) and candidate re-ranking on a device
(``score_candidates``: a short list sent by the cloud).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from tandem.core.errors import ConfigError


class SequentialRecommender(nn.Module):
    """Base class: ``encode`` histories, score with the tied ``item_embedding`` (row 0 = padding)."""

    arch: ClassVar[str]
    n_items: int
    max_len: int
    item_embedding: nn.Embedding
    _config: dict[str, Any]

    @abstractmethod
    def encode(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[batch, length, dim]`` of a left-padded history ``[batch, length]`` (causal)."""

    @abstractmethod
    def flops_per_example(self, n_candidates: int | None = None) -> int:
        """FLOPs (2 x multiply-adds) of one request: encode ``max_len`` items, score all items or candidates."""

    @property
    def dim(self) -> int:
        return int(self.item_embedding.embedding_dim)

    def check_history(self, history: torch.Tensor) -> torch.Tensor:
        """Validate a history batch and keep its last ``max_len`` columns."""
        if not isinstance(history, torch.Tensor) or history.dim() != 2 or history.dtype not in (torch.int64,
                                                                                              torch.int32):
            shape = list(history.shape) if isinstance(history, torch.Tensor) else type(history).__name__
            raise ConfigError(f"{type(self).__name__}: history must be an int tensor [batch, length], got {shape}")
        if history.shape[1] == 0:
            raise ConfigError(f"{type(self).__name__}: history has no columns")
        return history[:, -self.max_len :].long()

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item id (``[..., n_items + 1]``) for hidden vectors ``[..., dim]``."""
        return hidden @ self.item_embedding.weight.T

    def user_vector(self, history: torch.Tensor) -> torch.Tensor:
        """The hidden state at the newest position: the user's representation ``[batch, dim]``."""
        return self.encode(self.check_history(history))[:, -1]

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Full-ranking logits ``[batch, n_items + 1]`` of the next item; the padding id scores ``-inf``."""
        logits = self.item_scores(self.user_vector(history))
        logits[:, 0] = float("-inf")
        return logits

    def score_candidates(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scores ``[batch, n_candidates]`` of the given item ids only: on-device re-ranking of a cloud list."""
        if candidates.dim() != 2 or candidates.shape[0] != history.shape[0]:
            raise ConfigError(
                f"score_candidates: candidates must be [batch={history.shape[0]}, n], got {list(candidates.shape)}"
            )
        user = self.user_vector(history)
        return (self.item_embedding(candidates) * user.unsqueeze(1)).sum(-1)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able), so a model can be rebuilt from a delivered state dict."""
        return dict(self._config)


def causal_padding_mask(history: torch.Tensor) -> torch.Tensor:
    """Boolean attention mask ``[batch, 1, L, L]``: query ``i`` may see key ``j <= i`` that is not padding.

    The diagonal is always allowed so that padded queries (whose keys are all padding) never get an
    all-masked row, which would make softmax return NaN. Pure.
    """
    length = history.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=history.device).tril()
    keys = (history > 0).unsqueeze(1)  # [B, 1, L]
    eye = torch.eye(length, dtype=torch.bool, device=history.device)
    return ((causal & keys) | eye).unsqueeze(1)


#: Named sizes: the cloud's "large" model and the device's "small" one (about 10x fewer parameters on Beauty).
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "sasrec": {
        "large": {"dim": 128, "n_layers": 2, "n_heads": 2, "dropout": 0.3},
        "small": {"dim": 16, "n_layers": 1, "n_heads": 1, "dropout": 0.2},
    },
    "gru4rec": {
        "large": {"dim": 128, "hidden": 128, "n_layers": 1, "dropout": 0.3},
        "small": {"dim": 16, "hidden": 32, "n_layers": 1, "dropout": 0.2},
    },
}


def build_seqrec(arch: str, n_items: int, max_len: int = 50, size: str = "small", **overrides: Any
                 ) -> SequentialRecommender:
    """A SASRec or GRU4Rec of a named size (``"large"`` / ``"small"``), with keyword overrides."""
    from tandem.models.gru4rec import GRU4Rec
    from tandem.models.sasrec import SASRec

    classes = {"sasrec": SASRec, "gru4rec": GRU4Rec}
    if arch not in classes:
        raise ConfigError(f"build_seqrec: unknown arch {arch!r}; available: {sorted(classes)}")
    if size not in SIZES[arch]:
        raise ConfigError(f"build_seqrec: unknown size {size!r}; available: {sorted(SIZES[arch])}")
    return classes[arch](n_items, max_len=max_len, **{**SIZES[arch][size], **overrides})


def rebuild_seqrec(arch: str, config: dict[str, Any]) -> SequentialRecommender:
    """Rebuild an (untrained) model from ``model.config()``: what a device does before loading weights."""
    from tandem.models.gru4rec import GRU4Rec
    from tandem.models.sasrec import SASRec

    classes = {"sasrec": SASRec, "gru4rec": GRU4Rec}
    if arch not in classes:
        raise ConfigError(f"rebuild_seqrec: unknown arch {arch!r}; available: {sorted(classes)}")
    return classes[arch](**config)
