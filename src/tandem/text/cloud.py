"""The cloud's large model, part two: a classification head on frozen MiniLM sentence embeddings.

The encoder (:mod:`tandem.text.encoder`) stays frozen, as in SentEval-style probing of sentence embeddings
(Conneau & Kiela, LREC 2018; Reimers & Gurevych, EMNLP 2019): only a small MLP is trained on the labelled
sentences' embeddings, which takes seconds on a CPU once the embeddings are cached. :class:`CloudTextModel`
joins encoder and head into the thing a device asks: sentences in, class probabilities out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.text.encoder import DEFAULT_CACHE, FLOPS_PER_TOKEN, SentenceEncoder, cached_embeddings

ModuleT = TypeVar("ModuleT", bound=nn.Module)


class EmbeddingHead(nn.Module):
    """``Linear -> GELU -> Dropout -> Linear`` on an embedding (``hidden`` = None: logistic regression)."""

    def __init__(self, dim: int = 384, n_classes: int = 2, hidden: int | None = 256, dropout: float = 0.1) -> None:
        super().__init__()
        if dim < 1 or n_classes < 2 or (hidden is not None and hidden < 1) or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"EmbeddingHead: need dim >= 1, n_classes >= 2, hidden >= 1 or None, 0 <= dropout < 1; "
                              f"got {dim}, {n_classes}, {hidden}, {dropout}")
        self.net = (nn.Linear(dim, n_classes) if hidden is None else
                    nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def flops(self) -> int:
        """Multiply-adds x 2 of one forward pass."""
        return 2 * sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))


def train_head(head: ModuleT, embeddings: np.ndarray, labels: np.ndarray, *, epochs: int = 10,
               batch_size: int = 256, lr: float = 2e-3, weight_decay: float = 1e-4, seed: int = 0,
               progress: bool = False) -> ModuleT:
    """Train ``head`` in place on ``(embeddings [n, d], labels [n])`` by cross-entropy (AdamW); eval mode after."""
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if x.dim() != 2 or y.shape != (x.shape[0],) or not torch.isfinite(x).all():
        raise ConfigError(f"train_head: need finite embeddings [n, d] and labels [n], got {list(x.shape)}, "
                          f"{list(y.shape)}")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError("train_head: need epochs >= 1, batch_size >= 1 and lr > 0")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * -(-len(y) // batch_size))
    head.train()
    with progress_bar(progress) as bar:
        task = bar.add_task("cloud head on MiniLM embeddings", total=epochs)
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for lo in range(0, len(y), batch_size):
                idx = order[lo:lo + batch_size]
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(head(x[idx]), y[idx]).backward()
                opt.step()
                sched.step()
            bar.advance(task)
    return head.eval()


@torch.no_grad()
def head_proba(head: nn.Module, embeddings: np.ndarray) -> np.ndarray:
    """``float64 [n, C]`` class probabilities of ``head`` on precomputed embeddings."""
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if x.dim() != 2:
        raise ConfigError(f"head_proba: embeddings must be [n, d], got {list(x.shape)}")
    head.eval()
    return torch.softmax(head(x), -1).double().numpy()


class CloudTextModel:
    """The large model a device asks: a sentence encoder (frozen) and a trained head.

    ``encoder`` None loads MiniLM on the first cache miss; ``cache_dir`` is where embeddings are cached (see
    :func:`cached_embeddings`; None disables it).
    """

    def __init__(self, encoder: SentenceEncoder | None, head: nn.Module, *,
                 cache_dir: str | Path | None = DEFAULT_CACHE) -> None:
        self.encoder = encoder
        self.head = head
        self.cache_dir = cache_dir

    def embed(self, sentences: Sequence[str], progress: bool = False) -> np.ndarray:
        """Sentence embeddings (from the cache when present)."""
        return cached_embeddings(sentences, self.encoder, cache_dir=self.cache_dir, progress=progress)

    def predict_proba(self, sentences: Sequence[str], progress: bool = False) -> np.ndarray:
        """``float64 [n, C]`` class probabilities of the large model."""
        return head_proba(self.head, self.embed(sentences, progress))

    def flops(self, n_tokens: np.ndarray) -> float:
        """Approximate FLOPs of answering requests with ``n_tokens`` word-piece tokens each (encoder + head)."""
        tokens = np.asarray(n_tokens, dtype=np.float64)
        head = self.head.flops() if isinstance(self.head, EmbeddingHead) else 0
        return float(tokens.sum() * FLOPS_PER_TOKEN + tokens.size * head)
