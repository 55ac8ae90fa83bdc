"""The learned request-value model: a tiny on-device MLP that predicts what a cloud request would gain.

IntellectReq (Lv et al., "Intelligent Model Update Strategy for Sequential Recommendation", WWW 2024,
arXiv:2302.07335) trains an on-device detector of mis-recommendations from logged data and requests the
cloud where the predicted revenue of a request is high; AdaRequest (Qian et al., "Intelligent Request
Strategy Design in Recommender System", KDD 2022) estimates the value of a request from the device's
real-time signals. tandem's version regresses the *measured* quality gain of a request at each logged
step, ``NDCG@10(fresh cloud answer) - NDCG@10(answer held)``, on the local signals of
:data:`tandem.routing.signals.FEATURES`. The logs come from the streams of one set of users (the cloud
computes both counterfactuals, since it can run its large model at every logged step); the policy is
evaluated on other users.

The model is ~1k parameters per network (17 inputs, two hidden layers of 32 and 16): negligible next to the small
recommender on the device.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.mlp import build_mlp
from tandem.routing.signals import FEATURES


class RequestValueModel(nn.Module):
    """Standardize features with stored mean/std, then an MLP to one predicted gain per row.

    With ``members`` > 1 it is an ensemble: that many MLPs (trained from different seeds by
    :func:`fit_request_value`) whose predictions are averaged. Logged gains are noisy and the policy keeps
    only the top few percent of scores, so one network's ranking depends on its seed; the average is steadier.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, n_features: int = len(FEATURES), hidden: int = 32, members: int = 1) -> None:
        super().__init__()
        if n_features < 1 or hidden < 2 or members < 1:
            raise ConfigError(f"RequestValueModel: need n_features >= 1, hidden >= 2 and members >= 1, got "
                              f"{n_features}, {hidden}, {members}")
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.nets = nn.ModuleList(build_mlp([n_features, hidden, hidden // 2, 1]) for _ in range(members))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def members(self) -> int:
        return len(self.nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        return torch.stack([net(z).squeeze(-1) for net in self.nets]).mean(0)

    @torch.no_grad()
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted gains ``float64 [B]`` for a feature matrix ``[B, n_features]``."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ConfigError(f"RequestValueModel.predict: expected [rows, {self.n_features}], got {x.shape}")
        self.eval()
        return self(torch.as_tensor(x)).double().numpy()


def captured_gain(predicted: np.ndarray, gains: np.ndarray, rate: float) -> float:
    """Share of the total positive gain collected by requesting the top ``rate`` fraction of rows by prediction.

    A one-number check of a request-value model that ignores calibration: 1.0 means its top rows hold
    all the gain, ``rate`` is what a random choice collects on average. Pure.
    """
    pred, gain = np.asarray(predicted, dtype=np.float64), np.asarray(gains, dtype=np.float64)
    if pred.shape != gain.shape or pred.ndim != 1:
        raise ConfigError(f"captured_gain: predicted and gains must be equal 1-D arrays, got {pred.shape}, "
                          f"{gain.shape}")
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"captured_gain: rate must be in [0, 1], got {rate}")
    total = gain.sum()
    if pred.size == 0 or total <= 0:
        return 0.0
    n = round(rate * pred.size)
    top = np.argsort(-pred, kind="stable")[:n]
    return float(gain[top].sum() / total)


@dataclass
class ValueFitReport:
    """How fitting went: the best epoch and validation MSE per epoch (of the first member), every member's best
    epoch, and the (averaged) model's captured gain at 10/20/30%."""

    best_epoch: int = 0
    valid_mse: list[float] = field(default_factory=list)
    captured: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    n_valid: int = 0
    member_epochs: list[int] = field(default_factory=list)


def fit_request_value(
    features: np.ndarray,
    gains: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    hidden: int = 32,
    epochs: int = 40,
    batch_size: int = 1024,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    valid_fraction: float = 0.2,
    patience: int = 5,
    seed: int = 0,
    members: int = 1,
) -> tuple[RequestValueModel, ValueFitReport]:
    """Fit a :class:`RequestValueModel` by MSE on logged ``(features [n, F], gains [n])``.

    ``groups`` (e.g. the user of each row) keeps whole groups on one side of the train/validation split,
    so early stopping never sees a user it trained on. ``members`` networks are trained from seeds
    ``seed, seed + 1, ...`` on the same split, each kept at its best validation epoch, and averaged.
    """
    x, y = np.asarray(features, dtype=np.float32), np.asarray(gains, dtype=np.float32)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 10:
        raise ConfigError(f"fit_request_value: need features [n >= 10, F] and gains [n], got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("fit_request_value: features and gains must be finite")
    if not 0.0 < valid_fraction < 1.0 or epochs < 1 or batch_size < 1 or lr <= 0 or members < 1:
        raise ConfigError("fit_request_value: need 0 < valid_fraction < 1, epochs >= 1, batch_size >= 1, lr > 0, "
                          "members >= 1")
    rng = np.random.default_rng(seed)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    if g.shape != y.shape:
        raise ConfigError(f"fit_request_value: groups must have one entry per row, got {g.shape}")
    uniq = np.unique(g)
    valid_groups = rng.choice(uniq, size=max(1, round(valid_fraction * uniq.size)), replace=False)
    is_valid = np.isin(g, valid_groups)
    if is_valid.all():
        raise ConfigError("fit_request_value: too few groups for a train/validation split")
    torch.manual_seed(seed)
    model = RequestValueModel(x.shape[1], hidden, members)
    xt, yt = torch.as_tensor(x[~is_valid]), torch.as_tensor(y[~is_valid])
    xv, yv = torch.as_tensor(x[is_valid]), torch.as_tensor(y[is_valid])
    model.mean.copy_(xt.mean(0))
    model.std.copy_(xt.std(0).clamp_min(1e-6))
    report = ValueFitReport(n_train=len(yt), n_valid=len(yv))
    zt, zv = (xt - model.mean) / model.std, (xv - model.mean) / model.std  # standardized once for every member
    for i, net in enumerate(model.nets):
        if i:
            torch.manual_seed(seed + i)
            for layer in net.children():
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
        member_rng = rng if i == 0 else np.random.default_rng(seed + i)
        best_epoch, mses = _fit_member(net, zt, yt, zv, yv, member_rng, epochs, batch_size, lr, weight_decay, patience)
        report.member_epochs.append(best_epoch)
        if i == 0:
            report.best_epoch, report.valid_mse = best_epoch, mses
    pred = model.predict(x[is_valid])
    report.captured = {f"{r:.0%}": captured_gain(pred, y[is_valid], r) for r in (0.1, 0.2, 0.3)}
    return model, report


def _fit_member(net: nn.Module, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                rng: np.random.Generator, epochs: int, batch_size: int, lr: float, weight_decay: float,
                patience: int) -> tuple[int, list[float]]:
    """Train one network on standardized inputs with early stopping; leave it at its best epoch."""
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, bad, best_epoch, mses = float("inf"), None, 0, 0, []
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.as_tensor(rng.permutation(len(yt)))
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(xt[idx]).squeeze(-1) - yt[idx]) ** 2)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            mse = float(torch.mean((net(xv).squeeze(-1) - yv) ** 2))
        mses.append(mse)
        if mse < best:
            best, best_state, bad, best_epoch = mse, copy.deepcopy(net.state_dict()), 0, epoch
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return best_epoch, mses
