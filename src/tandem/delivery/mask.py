"""Mask customization (DIET-style): a frozen supernet on the device, a per-user binary mask from the cloud.

After DIET (Fu et al., "DIET: Customized Slimming for Incompatible Networks in Sequential Recommendation",
KDD 2024): the device keeps one generic small model (the supernet) and never trains it; to personalize,
the cloud sends only a binary mask that selects the user's subnetwork, computed from the user's recent
items by a mask generator learned in the cloud. The device applies the bits and runs a forward pass: no
backpropagation, and the bytes are one bit per maskable entry (compressed).

Two kinds of mask are generated here, both from ``z``, the user's state in the frozen cloud model
(:class:`tandem.delivery.personal.UserEncoder`):

* weight masks on the supernet's 2-D encoder weights ``W [out, in]``: entry score ``S + a(z) b(z)^T``
  (a learned base score plus a rank-1 user term), kept where positive;
* output-unit masks on the item rows: score ``s_j + e_j . c(z)`` with ``e_j`` the cloud model's item
  embedding; a dropped item is outside this user's subnetwork and ranks below every kept item.

Masks are hard (0/1) in the forward pass and trained with the straight-through estimator (gradient of
``sigmoid(score)``; Bengio et al. 2013). Base scores start at ``init_score > 0``: the all-ones mask, i.e. the
supernet itself. ``keep_penalty`` charges the mean keep probability, to slim the subnetwork.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.personal import Personalizer, UserEncoder, check_vmappable, freeze, per_user_logits
from tandem.models.seqrec import SequentialRecommender

ROWS = "item_rows"
"""Name of the output-unit (item row) mask in a mask dict."""


def default_mask_targets(model: SequentialRecommender) -> list[str]:
    """The 2-D weights of the encoder (everything but the item and position embedding tables)."""
    return [n for n, p in model.named_parameters() if p.dim() == 2 and "embedding" not in n]


def straight_through(scores: torch.Tensor) -> torch.Tensor:
    """Hard 0/1 mask ``scores > 0`` in the forward pass, gradient of ``sigmoid(scores)`` in the backward. Pure."""
    soft = torch.sigmoid(scores)
    return (scores > 0).to(scores.dtype) + soft - soft.detach()


def mask_rows(logits: torch.Tensor, row_mask: torch.Tensor) -> torch.Tensor:
    """Logits where dropped items (mask 0) score just below the user's lowest kept score; column 0 stays -inf."""
    items = logits[:, 1:]
    floor = items.detach().min(dim=1, keepdim=True).values - 1.0
    masked = row_mask[:, 1:] * items + (1.0 - row_mask[:, 1:]) * floor
    return torch.cat([logits[:, :1], masked], dim=1)


class MaskGenerator(Personalizer):
    """Cloud-side generator of per-user binary masks over a frozen device supernet.

    Args:
        supernet: the device model (frozen here). cloud_model: the frozen cloud model that encodes users.
        targets: supernet weight names to mask elementwise (default: :func:`default_mask_targets`).
        item_rows: also mask output units (items). user_dim: width of the user code ``z``.
        init_score: initial base score (positive: start from the full supernet). keep_penalty: weight of
            the mean keep probability in the training loss.
    """

    def __init__(self, supernet: SequentialRecommender, cloud_model: SequentialRecommender,
                 targets: list[str] | None = None, item_rows: bool = True, user_dim: int = 64,
                 init_score: float = 1.0, keep_penalty: float = 0.0) -> None:
        super().__init__()
        targets = default_mask_targets(supernet) if targets is None else list(targets)
        check_vmappable(supernet, targets)
        if cloud_model.n_items != supernet.n_items or keep_penalty < 0:
            raise ConfigError(f"MaskGenerator: cloud model scores {cloud_model.n_items} items, supernet "
                              f"{supernet.n_items}; keep_penalty must be >= 0 (got {keep_penalty})")
        if not targets and not item_rows:
            raise ConfigError("MaskGenerator: nothing to mask (no targets and item_rows=False)")
        self.device_model = freeze(supernet)
        self.targets, self.item_rows, self.keep_penalty = targets, item_rows, keep_penalty
        self.user = UserEncoder(cloud_model, user_dim)
        params = dict(supernet.named_parameters())
        self.base = nn.ParameterDict({_key(n): nn.Parameter(torch.full(params[n].shape, init_score))
                                      for n in targets})
        self.row_factor = nn.ModuleDict({_key(n): nn.Linear(user_dim, params[n].shape[0]) for n in targets})
        self.col_factor = nn.ModuleDict({_key(n): nn.Linear(user_dim, params[n].shape[1]) for n in targets})
        if item_rows:
            self.row_base = nn.Parameter(torch.full((supernet.n_items + 1,), init_score))
            self.item_query = nn.Linear(user_dim, cloud_model.dim)
            nn.init.zeros_(self.item_query.weight)
            nn.init.zeros_(self.item_query.bias)
        self._keep = torch.zeros(())

    def scores(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Real-valued mask scores per user: ``{name: [batch, *shape]}`` (and ``item_rows``: ``[batch, n+1]``)."""
        z = self.user(history)
        out = {n: self.base[_key(n)] + self.row_factor[_key(n)](z).unsqueeze(2) * self.col_factor[_key(n)](z)
               .unsqueeze(1) for n in self.targets}
        if self.item_rows:
            items = self.user.cloud_model.item_embedding.weight.detach()
            out[ROWS] = self.row_base + self.item_query(z) @ items.T
        return out

    def masks(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hard boolean masks per user (what the cloud sends)."""
        with torch.no_grad():
            return {n: s > 0 for n, s in self.scores(history).items()}

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        scores = self.scores(history)
        masks = {n: straight_through(s) for n, s in scores.items()}
        self._keep = torch.stack([torch.sigmoid(s).mean() for s in scores.values()]).mean()
        return masked_logits(self.device_model, masks, history)

    def regularizer(self) -> torch.Tensor:
        return self.keep_penalty * self._keep


def _key(name: str) -> str:
    return name.replace(".", "__")


def masked_logits(supernet: SequentialRecommender, masks: Mapping[str, torch.Tensor],
                  history: torch.Tensor) -> torch.Tensor:
    """Logits of the supernet under per-user masks ``{name: [batch, *shape]}`` (0/1 floats or bools)."""
    params = dict(supernet.named_parameters())
    overrides = {n: params[n] * m.to(params[n].dtype) for n, m in masks.items() if n != ROWS}
    logits = per_user_logits(supernet, overrides, history)
    return mask_rows(logits, masks[ROWS].to(logits.dtype)) if ROWS in masks else logits


def mask_payload(masks: Mapping[str, torch.Tensor], meta: Mapping | None = None) -> bytes:
    """One user's masks (``{name: bool tensor}``, no batch dimension) as a bitmask + zstd envelope."""
    return encode_state({n: m.to(torch.bool) for n, m in masks.items()}, codec="bitmask", compress="zstd", meta=meta)


def device_scores(supernet: SequentialRecommender, payload: bytes, history: torch.Tensor) -> torch.Tensor:
    """What the device computes: decode the mask payload, mask the supernet, score ``history`` ``[1, L]``."""
    masks, _ = decode_state(payload)
    params = dict(supernet.named_parameters())
    for name, mask in masks.items():
        expected = (supernet.n_items + 1,) if name == ROWS else tuple(params[name].shape) if name in params else None
        if expected is None or tuple(mask.shape) != expected or mask.dtype != torch.bool:
            raise PayloadError(f"mask {name!r}: {tuple(mask.shape)} {mask.dtype} does not fit the supernet")
    with torch.no_grad():
        batched = {n: m.unsqueeze(0) for n, m in masks.items()}
        return masked_logits(supernet, batched, history)
