"""A compact next-item recommender used by the first end-to-end loop and as a baseline.

The model reads the last ``window`` items a user touched, embeds them with learned position
weights, passes the pooled vector through a small MLP and scores every item by a dot product with
the (tied) item embedding table. Its cost and size are set by ``dim`` and ``hidden``, so the same
class serves as the cloud's "large" model and the device's "small" model. Item id 0 is padding.
"""

from __future__ import annotations

import torch
from torch import nn

from tandem.core.errors import ConfigError


class WindowRecommender(nn.Module):
    """Scores all items given the user's last ``window`` item ids (0 = padding)."""

    def __init__(
        self, n_items: int, dim: int = 32, hidden: int = 64, window: int = 8, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if n_items < 2 or dim < 1 or hidden < 1 or window < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"WindowRecommender: need n_items>=2, dim, hidden, window >= 1 and 0 <= dropout < 1; "
                f"got n_items={n_items}, dim={dim}, hidden={hidden}, window={window}, dropout={dropout}"
            )
        self.n_items = n_items
        self.window = window
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position_weight = nn.Parameter(torch.linspace(0.5, 1.5, window))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))
        self.dropout = nn.Dropout(dropout)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, n_items + 1]`` from the last ``window`` columns of ``history`` (column 0 = padding)."""
        if history.dim() != 2 or history.shape[1] < self.window:
            raise ConfigError(
                f"WindowRecommender.forward: expected history of shape [batch, >= {self.window}], "
                f"got {list(history.shape)}"
            )
        history = history[:, -self.window :]
        emb = self.dropout(self.item_embedding(history))
        mask = (history > 0).to(emb.dtype).unsqueeze(-1)
        weights = self.position_weight.view(1, -1, 1) * mask
        pooled = (emb * weights).sum(1) / weights.sum(1).clamp_min(1e-6)
        user = pooled + self.mlp(pooled)
        logits = user @ self.item_embedding.weight.T + self.output_bias
        logits[:, 0] = float("-inf")
        return logits

    def flops_per_example(self) -> int:
        """Multiply-adds x2 of one forward pass: pooling, the MLP, and scoring every item."""
        dim = self.item_embedding.embedding_dim
        first = self.mlp[0]
        assert isinstance(first, nn.Linear)
        hidden = first.out_features
        return 2 * (self.window * dim + 2 * dim * hidden + dim * (self.n_items + 1))


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters())
