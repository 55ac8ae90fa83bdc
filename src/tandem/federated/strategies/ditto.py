"""Ditto: a FedAvg global model plus a regularised personal model on every client.

Li, Hu, Beirami and Smith, "Ditto: Fair and Robust Federated Learning Through Personalization",
ICML 2021, Algorithm 1 with the personal objective of Eq. (2):
``min_v h_k(v; w*) = F_k(v) + lambda/2 ||v - w*||^2``. Each selected client updates the global model
as in FedAvg and, alongside it, its persistent personal model ``v_k`` regularised towards the received
global model (the client runtime's job, ``LocalObjective.ditto_lambda``). The server only aggregates
the global-model updates, by FedAvg (example-weighted average).
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.federated.strategies._common import build_objective, check_number, fedavg_aggregate
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy, register_strategy


@register_strategy
class Ditto(Strategy):
    """FedAvg on the global model; clients also train personal models pulled towards it.

    Parameters
    ----------
    lam:
        Ditto's ``lambda`` (> 0): strength of the pull of each personal model towards the global one;
        ``lam -> 0`` approaches purely local training, large ``lam`` the global model.
    objective:
        The rest of the clients' local objective; its ``ditto_lambda`` is set to ``lam``.
    """

    name = "ditto"

    def __init__(self, *, lam: float = 0.1, objective: LocalObjective | None = None) -> None:
        self.lam = check_number(self.name, "lam", lam, low=0.0, low_inclusive=False)
        super().__init__(build_objective(self.name, objective, ditto_lambda=self.lam))

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        return fedavg_aggregate(self.name, rnd, params, results)
