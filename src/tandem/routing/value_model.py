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

The model is ~1k parameters (10 inputs, two hidden layers of 32 and 16): negligible next to the small
recommender on the device.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.routing.signals import FEATURES


class RequestValueModel(nn.Module):
    """Standardize features with stored mean/std, then an MLP to one predicted gain per row."""

    def __init__(self, n_features: int = len(FEATURES), hidden: int = 32) -> None:
        super().__init__()
        if n_features < 1 or hidden < 2:
            raise ConfigError(f"RequestValueModel: need n_features >= 1 and hidden >= 2, got {n_features}, {hidden}")
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(),
                                 nn.Linear(hidden // 2, 1))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)

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
    """How fitting went: the best epoch, validation MSE per epoch, and captured gain at 10/20/30%."""

    best_epoch: int = 0
    valid_mse: list[float] = field(default_factory=list)
    captured: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    n_valid: int = 0


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
) -> tuple[RequestValueModel, ValueFitReport]:
    """Fit a :class:`RequestValueModel` by MSE on logged ``(features [n, F], gains [n])``.

    ``groups`` (e.g. the user of each row) keeps whole groups on one side of the train/validation split,
    so early stopping never sees a user it trained on. Returns the best model by validation MSE.
    """
    x, y = np.asarray(features, dtype=np.float32), np.asarray(gains, dtype=np.float32)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 10:
        raise ConfigError(f"fit_request_value: need features [n >= 10, F] and gains [n], got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("fit_request_value: features and gains must be finite")
    if not 0.0 < valid_fraction < 1.0 or epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError("fit_request_value: need 0 < valid_fraction < 1, epochs >= 1, batch_size >= 1, lr > 0")
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
    model = RequestValueModel(x.shape[1], hidden)
    xt, yt = torch.as_tensor(x[~is_valid]), torch.as_tensor(y[~is_valid])
    xv, yv = torch.as_tensor(x[is_valid]), torch.as_tensor(y[is_valid])
    model.mean.copy_(xt.mean(0))
    model.std.copy_(xt.std(0).clamp_min(1e-6))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    report = ValueFitReport(n_train=len(yt), n_valid=len(yv))
    best, best_state, bad = float("inf"), None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.as_tensor(rng.permutation(len(yt)))
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((model(xt[idx]) - yt[idx]) ** 2)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            mse = float(torch.mean((model(xv) - yv) ** 2))
        report.valid_mse.append(mse)
        if mse < best:
            best, best_state, bad, report.best_epoch = mse, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    pred = model.predict(x[is_valid])
    report.captured = {f"{r:.0%}": captured_gain(pred, y[is_valid], r) for r in (0.1, 0.2, 0.3)}
    return model, report
