"""FedAvgM: FedAvg with server momentum.

Hsu, Qi and Brown, "Measuring the Effects of Non-Identical Data Distribution for Federated Visual
Classification", arXiv:1909.06335 (NeurIPS 2019 Workshop on Federated Learning), Section 3: the server
keeps a momentum buffer ``v <- beta v + Delta w`` and applies ``w <- w - v``; here with a server
learning rate, in the pseudo-gradient sign of :mod:`tandem.federated.servers_opt`:
``delta = sum_k (n_k / n) (w_k - w)``, ``m <- beta m + delta``, ``w <- w + server_lr * m``.
``server_momentum = 0`` and ``server_lr = 1`` give FedAvg exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tandem.core.errors import ConfigError
from tandem.federated.servers_opt import momentum_step, pseudo_gradient
from tandem.federated.strategies._common import (
    build_objective,
    check_buffers,
    check_number,
    check_results,
    example_weights,
    state_or_init,
    zeros_like_params,
)
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy, register_strategy


@register_strategy
class FedAvgM(Strategy):
    """Server momentum on the example-weighted pseudo-gradient.

    Parameters
    ----------
    server_lr:
        Server learning rate ``eta`` (> 0).
    server_momentum:
        Momentum ``beta`` in [0, 1).
    objective:
        The clients' local objective (plain SGD by default).

    Learned state: ``momentum_`` (float32 buffer per parameter, ``None`` before the first round).
    """

    name = "fedavgm"

    def __init__(
        self, *, server_lr: float = 1.0, server_momentum: float = 0.9, objective: LocalObjective | None = None
    ) -> None:
        super().__init__(build_objective(self.name, objective))
        self.server_lr = check_number(self.name, "server_lr", server_lr, low=0.0, low_inclusive=False)
        self.server_momentum = check_number(self.name, "server_momentum", server_momentum, low=0.0, high=1.0)
        self.momentum_: Params | None = None

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self.momentum_ = zeros_like_params(params)

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        check_results(self.name, rnd, params, results)
        momentum = state_or_init(self.name, "momentum", self.momentum_, params)
        delta = pseudo_gradient(params, [r.params for r in results], example_weights(results))
        new_params, new_momentum = momentum_step(params, delta, momentum, lr=self.server_lr, beta=self.server_momentum)
        self.momentum_ = new_momentum
        return new_params

    def state_dict(self) -> dict[str, Any]:
        if self.momentum_ is None:
            return {"momentum": None}
        return {"momentum": {k: v.clone() for k, v in self.momentum_.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "momentum" not in state:
            raise ConfigError(f"{self.name}: checkpoint has no 'momentum' entry")
        buf = state["momentum"]
        self.momentum_ = None if buf is None else check_buffers(self.name, "momentum", buf, buf)
