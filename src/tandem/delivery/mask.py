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
* output-unit masks on the item rows: score ``s_j + e_j . c(z) + g (log p_j + t(z))`` with ``e_j`` the cloud
  model's item embedding, ``log p_j`` the cloud model's log-probability of item ``j`` for this user, and a
  learned gain ``g`` (0 at the start) and per-user threshold ``t(z)``: the cloud keeps the items its large model
  finds plausible for this user, and the device ranks them; a dropped item is outside this user's
  subnetwork and ranks below every kept item.

Training relaxes the binary masks (``relaxation``):

* ``"anneal"`` (default): soft masks ``sigmoid(score / tau)`` with the temperature ``tau`` lowered
  geometrically from ``tau_start`` to ``tau_end`` over training (the soft-to-hard schedule of Gumbel-softmax
  and continuous sparsification; Savarese et al., NeurIPS 2020). A soft weight mask scales its weight; a soft
  row mask adds ``log sigmoid(score / tau)`` to the item's logit, which tends to 0 for kept items and to
  ``-inf`` for dropped ones, i.e. to the hard ranking. The loss is smooth, so the generator learns what the
  hard mask will do; measured: with straight-through training the validation NDCG fell every epoch.
* ``"straight_through"``: hard 0/1 masks in the forward pass with the gradient of ``sigmoid(score)``
  (Bengio et al. 2013).

Outside training (``eval()``) the masks are always hard: what the cloud sends. Base scores start at
``init_score > 0``: the all-ones mask, i.e. the supernet itself. ``keep_penalty`` charges the mean keep
probability, to slim the subnetwork.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.personal import Personalizer, UserEncoder, check_vmappable, freeze, per_user_logits
from tandem.models.seqrec import SequentialRecommender

ROWS = "item_rows"
"""Name of the output-unit (item row) mask in a mask dict."""

RELAXATIONS = ("anneal", "straight_through")


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
            the mean keep probability in the training loss. relaxation: ``"anneal"`` or
            ``"straight_through"`` (module docstring). tau_start, tau_end: the annealing temperatures.
    """

    def __init__(self, supernet: SequentialRecommender, cloud_model: SequentialRecommender,
                 targets: list[str] | None = None, item_rows: bool = True, user_dim: int = 64,
                 init_score: float = 3.0, keep_penalty: float = 0.0, relaxation: str = "anneal",
                 tau_start: float = 1.0, tau_end: float = 0.02) -> None:
        super().__init__()
        if relaxation not in RELAXATIONS or not tau_start >= tau_end > 0:
            raise ConfigError(f"MaskGenerator: relaxation must be one of {RELAXATIONS} (got {relaxation!r}) and "
                              f"tau_start >= tau_end > 0 (got {tau_start}, {tau_end})")
        self.relaxation, self.tau_start, self.tau_end = relaxation, tau_start, tau_end
        self.tau = tau_start
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
            self.cloud_gain = nn.Parameter(torch.zeros(()))
            self.threshold = nn.Linear(user_dim, 1)
            for layer in (self.item_query, self.threshold):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self._keep = torch.zeros(())

    def scores(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Real-valued mask scores per user: ``{name: [batch, *shape]}`` (and ``item_rows``: ``[batch, n+1]``)."""
        cloud = self.user.cloud_model
        user, z = self.user.encode(history)
        out = {n: self.base[_key(n)] + self.row_factor[_key(n)](z).unsqueeze(2) * self.col_factor[_key(n)](z)
               .unsqueeze(1) for n in self.targets}
        if self.item_rows:
            items = cloud.item_embedding.weight.detach()
            with torch.no_grad():
                cloud_logp = torch.log_softmax(cloud.item_scores(user)[:, 1:], dim=1)
            plausibility = torch.cat([torch.zeros_like(cloud_logp[:, :1]), cloud_logp + self.threshold(z)], dim=1)
            out[ROWS] = self.row_base + self.item_query(z) @ items.T + self.cloud_gain * plausibility
        return out

    def masks(self, history: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hard boolean masks per user (what the cloud sends)."""
        with torch.no_grad():
            return {n: s > 0 for n, s in self.scores(history).items()}

    def set_progress(self, fraction: float) -> None:
        """Anneal: ``tau = tau_start * (tau_end / tau_start) ** fraction`` (0 at the first step, 1 at the last)."""
        self.tau = self.tau_start * (self.tau_end / self.tau_start) ** min(max(fraction, 0.0), 1.0)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        scores = self.scores(history)
        self._keep = torch.stack([torch.sigmoid(s).mean() for s in scores.values()]).mean()
        if not self.training:
            return masked_logits(self.device_model, {n: (s > 0).float() for n, s in scores.items()}, history)
        if self.relaxation == "straight_through":
            return masked_logits(self.device_model, {n: straight_through(s) for n, s in scores.items()}, history)
        return soft_masked_logits(self.device_model, scores, history, self.tau)

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


def soft_masked_logits(supernet: SequentialRecommender, scores: Mapping[str, torch.Tensor], history: torch.Tensor,
                       tau: float) -> torch.Tensor:
    """Training-time logits under soft masks at temperature ``tau`` (module docstring); ``tau -> 0`` gives
    the hard masks' ranking. Weights are scaled by ``sigmoid(score / tau)``; item logits get
    ``log sigmoid(score / tau)`` added (column 0 stays ``-inf``)."""
    params = dict(supernet.named_parameters())
    overrides = {n: params[n] * torch.sigmoid(s / tau) for n, s in scores.items() if n != ROWS}
    logits = per_user_logits(supernet, overrides, history)
    if ROWS not in scores:
        return logits
    return torch.cat([logits[:, :1], logits[:, 1:] + F.logsigmoid(scores[ROWS][:, 1:] / tau)], dim=1)


def mask_payload(masks: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> bytes:
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
