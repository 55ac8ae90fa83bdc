"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Item embeddings (scaled by sqrt(dim)) plus learned position embeddings go through ``n_layers`` causal
Transformer blocks; the hidden state at position ``t`` scores item ``t + 1`` by a dot product with the
(tied) item embedding table. Blocks are pre-LayerNorm with a final LayerNorm, as in the authors' code.
Positions count from the newest item (left padding), so the newest item always has the same position.

Attention is written out with plain ``nn.Linear`` layers and matrix products, so every weight is a named
parameter (for masks, pruning and int8), the model exports to ONNX, and ``torch.func.vmap`` can run it with
different weights per user (mask and hypernetwork personalization).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.models.seqrec import SequentialRecommender, causal_padding_mask


class SelfAttention(nn.Module):
    """Multi-head causal self-attention with separate query/key/value/output projections."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (proj(x).view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2)
                   for proj in (self.query, self.key, self.value))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dim // self.n_heads)
        weights = F.dropout(scores.masked_fill(~mask, float("-inf")).softmax(-1), self.dropout, self.training)
        return self.out((weights @ v).transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """Pre-LN Transformer block: ``x + attn(LN(x))`` then ``x + FFN(LN(x))`` with a GELU feed-forward."""

    def __init__(self, dim: int, n_heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, n_heads, dropout)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn_in = nn.Linear(dim, ffn)
        self.ffn_out = nn.Linear(ffn, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), mask))
        return x + self.drop(self.ffn_out(self.drop(F.gelu(self.ffn_in(self.ffn_norm(x))))))


class SASRec(SequentialRecommender):
    """Self-attentive sequential recommender.

    Args:
        n_items: item vocabulary size (ids 1..n_items; 0 is padding).
        dim: embedding and hidden width. n_layers, n_heads: Transformer depth and heads (``dim % n_heads == 0``).
        max_len: longest history read (older items are dropped). ffn: feed-forward width (default ``4 * dim``).
        dropout: on embeddings, attention weights and block outputs (0.2-0.5 is usual on sparse data).
    """

    arch = "sasrec"

    def __init__(self, n_items: int, dim: int = 64, n_layers: int = 2, n_heads: int = 2, max_len: int = 50,
                 ffn: int | None = None, dropout: float = 0.2) -> None:
        super().__init__()
        ffn = 4 * dim if ffn is None else ffn
        if n_items < 2 or dim < 1 or n_layers < 0 or n_heads < 1 or max_len < 1 or ffn < 1:
            raise ConfigError(f"SASRec: need n_items >= 2 and positive dim, n_heads, max_len, ffn; got n_items="
                              f"{n_items}, dim={dim}, n_layers={n_layers}, n_heads={n_heads}, max_len={max_len}")
        if dim % n_heads or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"SASRec: dim ({dim}) must be divisible by n_heads ({n_heads}) and 0 <= dropout < 1 "
                              f"(got {dropout})")
        self._config = {"n_items": n_items, "dim": dim, "n_layers": n_layers, "n_heads": n_heads,
                        "max_len": max_len, "ffn": ffn, "dropout": dropout}
        self.n_items, self.max_len = n_items, max_len
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, n_heads, ffn, dropout) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def encode(self, history: torch.Tensor) -> torch.Tensor:
        history = self.check_history(history)
        length = history.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=history.device)
        x = self.item_embedding(history) * math.sqrt(self.dim) + self.position_embedding(positions)
        keep = (history > 0).unsqueeze(-1).to(x.dtype)
        x = self.drop(x) * keep
        mask = causal_padding_mask(history)
        for block in self.blocks:
            x = block(x, mask) * keep
        return self.final_norm(x)

    def flops_per_example(self, n_candidates: int | None = None) -> int:
        c, L, d = self._config, self.max_len, self.dim
        per_layer = L * (4 * d * d + 2 * d * c["ffn"]) + 2 * L * L * d  # projections, FFN, scores + mixing
        scored = self.n_items + 1 if n_candidates is None else n_candidates
        return 2 * (c["n_layers"] * per_layer + scored * d)
