"""FedProx: FedAvg whose clients minimise a proximal objective.

Li, Sahu, Zaheer, Sanjabi, Talwalkar and Smith, "Federated Optimization in Heterogeneous Networks",
MLSys 2020, Algorithm 2 with the local objective of Eq. (2):
``h_k(w; w^t) = F_k(w) + mu/2 ||w - w^t||^2``. The proximal term is the client runtime's job
(``LocalObjective.prox_mu``); the server aggregates exactly as FedAvg (example-weighted average),
so ``mu = 0`` is FedAvg.
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.federated.strategies._common import build_objective, check_number, fedavg_aggregate
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy, register_strategy


@register_strategy
class FedProx(Strategy):
    """FedAvg aggregation; clients add ``mu/2 ||w - w_global||^2`` to their loss.

    Parameters
    ----------
    mu:
        Proximal coefficient (>= 0); the paper tunes it over {0.001, 0.01, 0.1, 1}.
    objective:
        The rest of the clients' local objective (lr, epochs, batch size); its ``prox_mu`` is set to ``mu``.
    """

    name = "fedprox"

    def __init__(self, *, mu: float = 0.01, objective: LocalObjective | None = None) -> None:
        self.mu = check_number(self.name, "mu", mu, low=0.0)
        super().__init__(build_objective(self.name, objective, prox_mu=self.mu))

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        return fedavg_aggregate(self.name, rnd, params, results)
