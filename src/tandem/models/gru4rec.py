"""GRU4Rec: session-based recommendation with recurrent neural networks (Hidasi et al., ICLR 2016).

Item embeddings feed a GRU; its hidden state at position ``t`` (projected back to the embedding width
when ``hidden != dim``) scores item ``t + 1`` against the tied item-embedding table. Trained here with
the same full cross-entropy as SASRec, which later work found to be GRU4Rec's strongest loss
(Hidasi & Karatzoglou, CIKM 2018; Klenitskiy & Vasilev, RecSys 2023).
"""

from __future__ import annotations

import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.seqrec import SequentialRecommender


class GRU4Rec(SequentialRecommender):
    """Recurrent sequential recommender.

    Args:
        n_items: item vocabulary size (ids 1..n_items; 0 is padding). dim: item embedding width.
        hidden: GRU state width. n_layers: stacked GRU layers. max_len: longest history read.
        dropout: on the input embeddings and the GRU output.
    """

    arch = "gru4rec"

    def __init__(self, n_items: int, dim: int = 64, hidden: int = 64, n_layers: int = 1, max_len: int = 50,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if n_items < 2 or dim < 1 or hidden < 1 or n_layers < 1 or max_len < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"GRU4Rec: need n_items >= 2, positive dim/hidden/n_layers/max_len and "
                              f"0 <= dropout < 1; got n_items={n_items}, dim={dim}, hidden={hidden}, "
                              f"n_layers={n_layers}, max_len={max_len}, dropout={dropout}")
        self._config = {"n_items": n_items, "dim": dim, "hidden": hidden, "n_layers": n_layers,
                        "max_len": max_len, "dropout": dropout}
        self.n_items, self.max_len = n_items, max_len
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.gru = nn.GRU(dim, hidden, num_layers=n_layers, batch_first=True)
        self.project = nn.Linear(hidden, dim) if hidden != dim else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def encode(self, history: torch.Tensor) -> torch.Tensor:
        history = self.check_history(history)
        width = history.shape[1]
        # Run the GRU on right-aligned rows so that padding comes after the items and never enters their state.
        shift = width - (history > 0).sum(1, keepdim=True)
        columns = torch.arange(width, device=history.device).unsqueeze(0)
        right = history.gather(1, (columns + shift).clamp(max=width - 1)) * (columns < width - shift)
        states, _ = self.gru(self.drop(self.item_embedding(right)))
        back = (columns - shift).clamp(min=0).unsqueeze(-1).expand(-1, -1, states.shape[-1])
        states = states.gather(1, back) * (columns >= shift).unsqueeze(-1)
        return self.project(self.drop(states))

    def flops_per_example(self, n_candidates: int | None = None) -> int:
        c = self._config
        d, h, L = c["dim"], c["hidden"], self.max_len
        gru = 3 * (d * h + h * h) + (c["n_layers"] - 1) * 3 * (2 * h * h)
        project = h * d if h != d else 0
        scored = self.n_items + 1 if n_candidates is None else n_candidates
        return 2 * (L * (gru + project) + scored * d)
