"""Device -> cloud: users fine-tune the small text model on their own labelled sentences; the cloud aggregates.

SST-2 has no user ids, so users are simulated over the training rows (:func:`simulate_user_ids`): user sizes
are heavy-tailed (log-normal, as app usage is) and each user leans positive or negative with a Beta(``alpha``,
``alpha``) share, the label skew of real reviewers (cf. Hsu et al., "Measuring the Effects of Non-Identical
Data Distribution for Federated Visual Classification", 2019, for the Dirichlet form). The rows are then split
with :func:`tandem.data.partition.by_user_partition`, and :func:`federated_finetune` runs the federated engine
(:func:`tandem.sim.run_federated`, sequential runtime: the model takes integer n-gram ids) with any registered
strategy (FedAvg, FedProx, ...), counting the real bytes of every download and upload.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.partition import by_user_partition
from tandem.federated.client_runtime import Runtime
from tandem.federated.hooks import ClientHook, HookedRuntime
from tandem.federated.strategy import LocalObjective, Params, Strategy, get_strategy
from tandem.sim import FederatedResult, PartitionedData, make_runtime, run_federated

#: Registered strategies that wrap an inner one (the server-side trust hooks).
WRAPPERS = ("robust", "central_dp", "secagg")


def simulate_user_ids(labels: np.ndarray, n_users: int = 500, *, alpha: float = 1.0, size_sigma: float = 1.0,
                      seed: int = 0) -> np.ndarray:
    """``int64 [n]``: a simulated author for each labelled row (pure given ``seed``).

    User ``u`` has activity ``a_u ~ LogNormal(0, size_sigma)`` and positive share ``p_u ~ Beta(alpha, alpha)``;
    a row of class 1 goes to user ``u`` with probability proportional to ``a_u * p_u`` (class 0: ``a_u *
    (1 - p_u)``). Smaller ``alpha`` = users more one-sided; ``size_sigma`` 0 = equal activity.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() > 1)):
        raise ConfigError("simulate_user_ids: labels must be a 1-D array of 0/1")
    if not (isinstance(n_users, int | np.integer) and n_users >= 1) or alpha <= 0 or size_sigma < 0:
        raise ConfigError(f"simulate_user_ids: need n_users >= 1, alpha > 0, size_sigma >= 0; "
                          f"got {n_users}, {alpha}, {size_sigma}")
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, size_sigma, n_users)
    positive = rng.beta(alpha, alpha, n_users)
    users = np.empty(y.size, dtype=np.int64)
    for k, share in ((0, 1.0 - positive), (1, positive)):
        rows = np.flatnonzero(y == k)
        weight = activity * share
        users[rows] = rng.choice(n_users, size=rows.size, p=weight / weight.sum())
    return users


def user_parts(labels: np.ndarray, row_ids: np.ndarray, **kwargs: Any) -> list[np.ndarray]:
    """Simulated users of the rows ``row_ids`` (their ``labels``), as one array of row ids per user."""
    rows = np.asarray(row_ids, dtype=np.int64)
    if rows.shape != np.shape(labels):
        raise ConfigError(f"user_parts: {rows.size} row ids for {np.size(labels)} labels")
    return [rows[p] for p in by_user_partition(simulate_user_ids(labels, **kwargs))]


class TextEval:
    """Central evaluation of the global small model on held-out id rows: ``{"accuracy", "loss"}``."""

    def __init__(self, model: nn.Module, ids: np.ndarray, labels: np.ndarray) -> None:
        self.model = model
        self.x = torch.as_tensor(np.asarray(ids), dtype=torch.int64)
        self.y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)

    @torch.no_grad()
    def __call__(self, params: Params) -> dict[str, float]:
        self.model.load_state_dict(params)
        logits = self.model.eval()(self.x)
        acc = float((logits.argmax(1) == self.y).to(torch.float32).mean())
        return {"accuracy": acc, "loss": float(nn.functional.cross_entropy(logits, self.y))}


def federated_finetune(
    model: nn.Module,
    ids: np.ndarray,
    labels: np.ndarray,
    parts: list[np.ndarray],
    *,
    eval_ids: np.ndarray | None = None,
    eval_labels: np.ndarray | None = None,
    strategy: str | Strategy = "fedavg",
    strategy_kwargs: Mapping[str, Any] | None = None,
    hooks: Sequence[ClientHook] = (),
    rounds: int = 20,
    clients_per_round: int = 20,
    lr: float = 0.1,
    epochs: int = 1,
    batch_size: int = 16,
    codec: str = "fp16",
    compress: str | None = "zstd",
    seed: int = 0,
    progress: bool = False,
) -> FederatedResult:
    """Federated fine-tuning of ``model`` (its weights are the round-0 global model) on users' rows.

    ``ids``/``labels`` hold every row; ``parts[u]`` are user ``u``'s row ids. Local training is plain SGD
    (``lr``, ``epochs``, ``batch_size``: the :class:`~tandem.federated.strategy.LocalObjective`); ``strategy``
    is a registered name (``strategy_kwargs`` go to it) or a ready object. The trust hooks plug in here:
    server-side wrappers by name (``strategy="robust", strategy_kwargs={"rule": "median"}`` or
    ``"central_dp"`` or ``"secagg"``, wrapping ``inner`` = FedAvg with this objective unless given), client-side
    hooks (local
    DP, compression, attacks for evaluation: :mod:`tandem.federated.hooks`) through ``hooks``. Updates travel
    with ``codec`` (+ ``compress``); bytes are counted per round.
    """
    if not parts or all(len(p) == 0 for p in parts):
        raise ConfigError("federated_finetune: need at least one user with rows")
    if (eval_ids is None) != (eval_labels is None):
        raise ConfigError("federated_finetune: give both eval_ids and eval_labels, or neither")
    objective = LocalObjective(lr=lr, epochs=epochs, batch_size=batch_size)
    if isinstance(strategy, str):
        strategy = build_strategy(strategy, objective, strategy_kwargs)
    data = PartitionedData(np.asarray(ids, dtype=np.int64), np.asarray(labels, dtype=np.int64), parts)
    evaluate: TextEval | None = None
    if eval_ids is not None and eval_labels is not None:
        evaluate = TextEval(copy.deepcopy(model), eval_ids, eval_labels)
    runtime: Runtime = make_runtime("sequential", model, data, seed=seed)
    if hooks:
        runtime = HookedRuntime(runtime, list(hooks))
    return run_federated(model, data, strategy, rounds=rounds, clients_per_round=min(clients_per_round, len(parts)),
                         runtime=runtime, evaluate=evaluate, codec=codec, compress=compress, seed=seed,
                         progress=progress)


def build_strategy(name: str, objective: LocalObjective, kwargs: Mapping[str, Any] | None = None) -> Strategy:
    """A registered strategy with ``objective``; wrappers (``robust``, ``central_dp``) get it via their inner one."""
    kwargs = dict(kwargs or {})
    if name in WRAPPERS:
        inner = kwargs.pop("inner", "fedavg")
        kwargs["inner"] = build_strategy(inner, objective) if isinstance(inner, str) else inner
        return get_strategy(name, **kwargs)
    return get_strategy(name, objective=objective, **kwargs)
