"""The local signals a device has when it decides whether to ask the cloud, and the pure maths behind them.

A request policy may only look at what the device itself knows at that moment: its small model's scores on
the fresh history, the last cloud answer it holds (candidate ids and their log-probabilities) and that
answer's age, and how well its recent recommendations did on the clicks that followed. Those are the
signals of IntellectReq's mis-recommendation detector (Lv et al., "Intelligent Model Update Strategy for
Sequential Recommendation", WWW 2024, arXiv:2302.07335) and of the large/small inconsistency trigger; none
of them needs the cloud or the item the user will click next.

Every function here is pure and batched: one row per device-step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from tandem.core.errors import ConfigError

NO_CACHE_AGE = 64
"""The age reported when a device holds no cloud answer yet (older answers are capped to this too)."""


def confidence_signals(logp: torch.Tensor, top2: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(top1_prob, normalized_entropy, margin)`` of log-probabilities ``[B, C]`` (``-inf`` = excluded).

    ``normalized_entropy`` divides by ``log(#finite entries)`` so it lies in [0, 1] whatever the catalogue
    size; ``margin`` is ``log p1 - log p2`` (0 when fewer than two entries are finite). ``top2`` may pass
    the two largest log-probabilities per row if the caller has them already. Pure.
    """
    if logp.dim() != 2 or logp.shape[1] < 1:
        raise ConfigError(f"confidence_signals: expected log-probabilities [batch, classes], got {list(logp.shape)}")
    probs = logp.exp()
    n_finite = (logp > float("-inf")).sum(1).clamp_min(2).to(logp.dtype)
    entropy = (-torch.special.xlogy(probs, probs).sum(1) / n_finite.log()).clamp(0.0, 1.0)
    top = logp.topk(min(2, logp.shape[1]), dim=1).values if top2 is None else top2[:, :2]
    top1 = top[:, 0].exp()
    margin = (top[:, 0] - top[:, 1]) if top.shape[1] == 2 else torch.zeros_like(top1)
    margin = torch.nan_to_num(margin, nan=0.0, posinf=0.0, neginf=0.0)
    return top1, entropy, margin


def topk_overlap(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of each row of id lists ``a [B, K]`` that also occurs in ``b [B, M]``; id 0 never counts.

    ``valid [B]`` (bool) marks rows where ``b`` exists; other rows get 0. Pure.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ConfigError(f"topk_overlap: need [B, K] and [B, M] id lists, got {list(a.shape)}, {list(b.shape)}")
    hit = ((a.unsqueeze(2) == b.unsqueeze(1)) & (a.unsqueeze(2) > 0)).any(2)
    frac = hit.to(torch.float32).mean(1)
    return frac if valid is None else torch.where(valid, frac, torch.zeros_like(frac))


def reciprocal_rank_in_list(items: torch.Tensor, lists: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + position)`` of ``items [B]`` in the ranked ``lists [B, N]``, 0 where absent (or id 0). Pure."""
    if lists.dim() != 2 or items.shape != (lists.shape[0],):
        raise ConfigError(f"reciprocal_rank_in_list: need items [B] and lists [B, N], got {list(items.shape)}, "
                          f"{list(lists.shape)}")
    match = (lists == items.view(-1, 1)) & (items.view(-1, 1) > 0)
    positions = torch.arange(1, lists.shape[1] + 1, dtype=torch.float32)
    return (match.to(torch.float32) / positions).sum(1)


def reciprocal_rank_at(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """``1 / (1 + rank)`` for 0-based ``ranks`` inside the top ``k`` (the list a device showed), else 0. Pure."""
    rr = 1.0 / (ranks.to(torch.float32) + 1.0)
    return torch.where(ranks < k, rr, torch.zeros_like(rr))


OPTIONAL_SIGNALS = ("next_known", "cloud_edge", "anticipated_share", "click_surprise", "mean_surprise")
"""Signals a caller may leave out (they default to 0): those only a stream replay with a held answer has."""


SURPRISE_CAP = 3.0
"""The largest :func:`normalized_surprise` (a click 1/n**3 likely, or one the model could not rank)."""


def normalized_surprise(target_logp: torch.Tensor, n_ranked: torch.Tensor) -> torch.Tensor:
    """``-log p(click) / log(n)``: a click's surprisal under a model that ranked ``n`` items, in units of a
    uniform guess's (so it is comparable across catalogue sizes and history lengths; ``n`` < 2 counts as 2).

    Capped at :data:`SURPRISE_CAP`: a click the model could not rank at all (``-inf``, e.g. a repeat it
    excludes) is as surprising as the cap, not infinitely so. Pure."""
    if target_logp.shape != n_ranked.shape or target_logp.dim() != 1:
        raise ConfigError(f"normalized_surprise: need equal 1-D log-probabilities and counts, got "
                          f"{list(target_logp.shape)}, {list(n_ranked.shape)}")
    surprise = -target_logp.to(torch.float32) / n_ranked.to(torch.float32).clamp_min(2.0).log()
    return torch.nan_to_num(surprise, nan=SURPRISE_CAP, posinf=SURPRISE_CAP).clamp(0.0, SURPRISE_CAP)


@dataclass
class StepSignals:
    """What a batch of devices knows at one step, before deciding; every field is a 1-D array of length B.

    Fields:
        device: index of each row's device in the fleet (for per-device budgets).
        step: 0-based step number within the device's stream.
        history_len: items the user has clicked so far.
        confidence: the small model's top-1 probability over the unseen catalogue.
        entropy: normalized entropy of that distribution (0 = certain, 1 = uniform).
        margin: log-probability gap between the small model's first and second item.
        age: steps since the held cloud answer was made (``NO_CACHE_AGE`` when none is held).
        has_cache: whether a cloud answer is held.
        overlap: fraction of the small model's top-10 found in the held answer's top-10 (0 without one).
        click_rr_cloud: reciprocal rank of the latest click in the held answer (0 when absent).
        click_rr_device: reciprocal rank of the latest click in the list the device showed one step earlier.
        click_sim_cloud: cosine between the latest click and the held answer's top items (device embeddings).
        held_mass: the cloud's probability mass on held candidates not clicked yet (0 without an answer).
        held_top: the cloud's probability of its best held candidate not clicked yet (0 without an answer).
        next_known: 1 where the held answer anticipated the device's newest click, so the device ranks with
            the cloud's answer conditioned on it (:mod:`tandem.routing.anticipate`); 0 otherwise (default).
        cloud_edge: running mean of how much higher the held cloud list placed each recent click than the
            device's shown list did (reciprocal ranks; 0 by default): this user's recent gain from the cloud.
        anticipated_share: running share of recent clicks the held answer had anticipated (0 by default).
        click_surprise: how unexpected the newest click was to the small model: ``-log p(click) / log(n)``
            over the ``n`` items it could have ranked (1 = as likely as a uniform guess; 0 = unknown, the default).
        mean_surprise: the mean of ``click_surprise`` over this stream's clicks so far (0 before the first): how
            predictable this user is to the device. Unlike the rank signals above it is dense: on Beauty, few
            clicks land in any top-100 list, but every click has a probability.
    """

    device: np.ndarray
    step: np.ndarray
    history_len: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    margin: np.ndarray
    age: np.ndarray
    has_cache: np.ndarray
    overlap: np.ndarray
    click_rr_cloud: np.ndarray
    click_rr_device: np.ndarray
    click_sim_cloud: np.ndarray
    held_mass: np.ndarray
    held_top: np.ndarray
    next_known: np.ndarray | None = None
    cloud_edge: np.ndarray | None = None
    anticipated_share: np.ndarray | None = None
    click_surprise: np.ndarray | None = None
    mean_surprise: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in OPTIONAL_SIGNALS:  # optional: 0 when not given
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(np.asarray(self.device).shape[:1]))
        n = None
        for f in fields(self):
            arr = np.asarray(getattr(self, f.name))
            if arr.ndim != 1:
                raise ConfigError(f"StepSignals.{f.name} must be 1-D, got shape {arr.shape}")
            if n is not None and arr.shape[0] != n:
                raise ConfigError(f"StepSignals.{f.name} has {arr.shape[0]} rows, expected {n}")
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise ConfigError(f"StepSignals.{f.name} holds NaN or infinite values")
            n = arr.shape[0]
            setattr(self, f.name, arr)

    def __len__(self) -> int:
        return int(self.device.shape[0])

    @classmethod
    def from_probs(cls, probs: np.ndarray, *, age: np.ndarray | int | None = None,
                   device: np.ndarray | None = None) -> StepSignals:
        """Signals from class probabilities alone (``[rows, classes]``): what a classifier-only agent knows."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] < 1 or not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ConfigError(f"StepSignals.from_probs: need finite non-negative probs [rows, classes], got {p.shape}")
        logp = torch.as_tensor(np.log(np.clip(p, 1e-30, None) / np.clip(p.sum(1, keepdims=True), 1e-30, None)))
        conf, ent, margin = (t.numpy() for t in confidence_signals(logp))
        rows = p.shape[0]
        ages = np.broadcast_to(np.asarray(NO_CACHE_AGE if age is None else age, dtype=np.float64), (rows,))
        zeros = np.zeros(rows)
        return cls(device=np.arange(rows) if device is None else np.asarray(device), step=np.zeros(rows, np.int64),
                   history_len=np.zeros(rows, np.int64), confidence=conf, entropy=ent, margin=margin,
                   age=ages.copy(), has_cache=ages < NO_CACHE_AGE, overlap=zeros, click_rr_cloud=zeros,
                   click_rr_device=zeros, click_sim_cloud=zeros, held_mass=zeros, held_top=zeros)


FEATURES: tuple[str, ...] = (
    "confidence", "entropy", "margin", "log_age", "has_cache", "overlap",
    "click_rr_cloud", "click_rr_device", "click_sim_cloud", "log_history_len", "held_mass", "held_top",
    "next_known", "cloud_edge", "anticipated_share", "click_surprise", "mean_surprise",
)
"""The columns of :func:`feature_matrix`, the learned request-value model's inputs."""


def feature_matrix(signals: StepSignals) -> np.ndarray:
    """``float32 [B, len(FEATURES)]``: the signals as model inputs (log-scaled counts, 0/1 flags). Pure."""
    s = signals
    cols = [s.confidence, s.entropy, s.margin, np.log1p(np.minimum(s.age, NO_CACHE_AGE)), s.has_cache,
            s.overlap, s.click_rr_cloud, s.click_rr_device, s.click_sim_cloud, np.log1p(s.history_len), s.held_mass,
            s.held_top, s.next_known, s.cloud_edge, s.anticipated_share, s.click_surprise, s.mean_surprise]
    return np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1)


def signals_from_features(features: np.ndarray) -> StepSignals:
    """Invert :func:`feature_matrix` (device and step become 0): score logged steps with any policy. Pure."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURES):
        raise ConfigError(f"signals_from_features: expected [rows, {len(FEATURES)}], got {x.shape}")
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    rows = x.shape[0]
    return StepSignals(
        device=np.zeros(rows, np.int64), step=np.zeros(rows, np.int64),
        history_len=np.rint(np.expm1(col["log_history_len"])).astype(np.int64), confidence=col["confidence"],
        entropy=col["entropy"], margin=col["margin"], age=np.expm1(col["log_age"]), has_cache=col["has_cache"] > 0.5,
        overlap=col["overlap"], click_rr_cloud=col["click_rr_cloud"], click_rr_device=col["click_rr_device"],
        click_sim_cloud=col["click_sim_cloud"], held_mass=col["held_mass"], held_top=col["held_top"],
        next_known=col["next_known"], cloud_edge=col["cloud_edge"], anticipated_share=col["anticipated_share"],
        click_surprise=col["click_surprise"], mean_surprise=col["mean_surprise"])
