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
from typing import cast

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
        return self.merge(self.attend(*self.heads(x), mask))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scaled dot-product attention of split heads; ``mask`` (broadcast to the scores) marks visible keys."""
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        weights = F.dropout(scores.masked_fill(~mask, float("-inf")).softmax(-1), self.dropout, self.training)
        return weights @ v

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Query, key and value of ``x`` ``[batch, length, dim]``, split to ``[batch, heads, length, dim/heads]``."""
        batch, length, dim = x.shape
        q, k, v = (proj(x).view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2)
                   for proj in (self.query, self.key, self.value))
        return q, k, v

    def merge(self, mixed: torch.Tensor) -> torch.Tensor:
        """Join the heads of mixed values ``[batch, heads, length, dim/heads]`` and apply the output projection."""
        batch, heads, length, width = mixed.shape
        return self.out(mixed.transpose(1, 2).reshape(batch, length, heads * width))


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
        return self.feed_forward(x + self.drop(self.attn(self.attn_norm(x), mask)))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's second half: ``x + FFN(LN(x))``."""
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

    def _block_list(self) -> list[Block]:
        """The Transformer blocks, typed (``nn.ModuleList`` iterates as plain ``nn.Module``)."""
        return [cast(Block, block) for block in self.blocks]

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
        x, keep = self._embed(history, self.max_len - history.shape[1])
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

    def appended_flops(self, n_clicks: int, n_candidates: int | None = None) -> int:
        """FLOPs (2 x multiply-adds) of one ``appended_user_vectors`` row, scored as a cloud would.

        With ``H = max_len - 1`` history positions, ``P = 4 d^2 + 2 d ffn`` (projections and FFN per token) and
        ``C`` candidates (default every item, ``n_items + 1``):
        ``2 * (n_layers * (H P + 2 H^2 d + n_clicks (P + 2 max_len d)) + n_clicks C d)``: the shared history pass
        (as in ``flops_per_example``), then per click one token's projections and FFN and its attention scores and
        mixing over ``max_len`` keys, then each appended user vector scored against ``C`` items.
        """
        if n_clicks < 0 or (n_candidates is not None and n_candidates < 0):
            raise ConfigError(f"appended_flops: n_clicks ({n_clicks}) and n_candidates ({n_candidates}) must be >= 0")
        c, h, d = self._config, self.max_len - 1, self.dim
        token = 4 * d * d + 2 * d * c["ffn"]
        per_layer = h * token + 2 * h * h * d + n_clicks * (token + 2 * self.max_len * d)
        scored = self.n_items + 1 if n_candidates is None else n_candidates
        return 2 * (c["n_layers"] * per_layer + n_clicks * scored * d)

    def appended_user_vectors(self, history: torch.Tensor, clicks: torch.Tensor) -> torch.Tensor:
        """User vectors ``[batch, n_clicks, dim]`` of "the history followed by one more click", for many clicks.

        Entry ``[b, j]`` equals ``user_vector(cat(history[b, -(max_len - 1):], clicks[b, j]))``: positions count
        from the newest item, so the history's last ``max_len - 1`` items keep positions ``.. max_len - 2`` whatever
        the click is, and (causal attention) their per-layer keys and values are the same for every click. They are
        computed once (a key/value cache); each click is then one token at position ``max_len - 1`` whose query
        attends to the history's non-padding keys and its own key only. This is how a cloud can cheaply prepare
        what a user would be shown after each possible next click. Exact (to float rounding) in eval mode; in
        train mode with dropout it raises, since per-call dropout masks could not match the loop above.
        """
        context, clicks = self._check_appended(history, clicks)
        x_h, keep_h = self._embed(context, self.max_len - 1 - context.shape[1])
        x_n, keep_n = self._embed(clicks, self.max_len - 1, same_position=True)
        mask_h, visible = causal_padding_mask(context), (context > 0)[:, None, None, :]
        for block in self._block_list():
            q_h, k_h, v_h = block.attn.heads(block.attn_norm(x_h))  # the cache: this layer's history keys/values
            mixed = self._attend_appended(block.attn, block.attn_norm(x_n), k_h, v_h, visible)
            x_n = block.feed_forward(x_n + block.drop(mixed)) * keep_n
            x_h = block.feed_forward(x_h + block.drop(block.attn.merge(block.attn.attend(q_h, k_h, v_h, mask_h))))
            x_h = x_h * keep_h
        return self.final_norm(x_n)

    @staticmethod
    def _attend_appended(attn: SelfAttention, normed: torch.Tensor, k_h: torch.Tensor, v_h: torch.Tensor,
                         visible: torch.Tensor) -> torch.Tensor:
        """Attention output ``[batch, n_clicks, dim]`` of each appended token over the cached history keys it may
        see (``visible`` ``[batch, 1, 1, history]``) plus its own key, never the other appended tokens."""
        q, k, v = attn.heads(normed)  # [batch, heads, n_clicks, dim/heads]
        scale = math.sqrt(q.shape[-1])
        past = (q @ k_h.transpose(-1, -2) / scale).masked_fill(~visible, float("-inf"))
        weights = torch.cat([past, (q * k).sum(-1, keepdim=True) / scale], -1).softmax(-1)
        return attn.merge(weights[..., :-1] @ v_h + weights[..., -1:] * v)

    def _check_appended(self, history: torch.Tensor, clicks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate ``appended_user_vectors`` arguments; return the history's last ``max_len - 1`` columns."""
        history = self.check_history(history)
        if (not isinstance(clicks, torch.Tensor) or clicks.dim() != 2 or clicks.shape[0] != history.shape[0]
                or clicks.shape[1] == 0 or clicks.dtype not in (torch.int64, torch.int32)):
            shape = list(clicks.shape) if isinstance(clicks, torch.Tensor) else type(clicks).__name__
            raise ConfigError(f"appended_user_vectors: clicks must be an int tensor [batch={history.shape[0]}, "
                              f"n_clicks >= 1], got {shape}")
        if self.training and self._config["dropout"] > 0:
            raise ConfigError("appended_user_vectors: exact only without dropout; call model.eval() first")
        return history[:, history.shape[1] - min(history.shape[1], self.max_len - 1):], clicks.long()

    def _embed(self, ids: torch.Tensor, first: int, same_position: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled item plus position embeddings of ``ids`` (positions from ``first``, or all at ``first``), zeroed
        where ids are padding, and that keep mask ``[batch, length, 1]``: the input of ``encode`` and of the
        appended clicks."""
        length = 1 if same_position else ids.shape[1]
        positions = torch.arange(first, first + length, device=ids.device)
        keep = (ids > 0).unsqueeze(-1).to(self.item_embedding.weight.dtype)
        return (self.item_embedding(ids) * math.sqrt(self.dim) + self.position_embedding(positions)) * keep, keep
