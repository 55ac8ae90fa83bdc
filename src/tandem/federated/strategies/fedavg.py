"""FedAvg: federated averaging of the clients' locally trained models.

McMahan, Moore, Ramage, Hampson and Aguera y Arcas, "Communication-Efficient Learning of Deep
Networks from Decentralized Data", AISTATS 2017, Algorithm 1 (FederatedAveraging): each sampled client
runs ``E`` epochs of minibatch SGD from the global model, and the server sets
``w <- sum_k (n_k / n) w_k`` with ``n_k`` the client's number of examples and ``n = sum_k n_k``.
Clients with ``n_k = 0`` get weight 0. The sum is :func:`tandem.federated.aggregate.weighted_average`
(float32, in the order of the results), as Flower's FedAvg accumulates it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.federated.strategies._common import build_objective, fedavg_aggregate
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy, register_strategy


@register_strategy
class FedAvg(Strategy):
    """Example-weighted average of the client models (server learning rate 1, no momentum).

    Parameters
    ----------
    objective:
        The clients' local objective (lr, epochs, batch size); plain SGD, no proximal term.
    """

    name = "fedavg"

    def __init__(self, *, objective: LocalObjective | None = None) -> None:
        super().__init__(build_objective(self.name, objective))

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        return fedavg_aggregate(self.name, rnd, params, results)
