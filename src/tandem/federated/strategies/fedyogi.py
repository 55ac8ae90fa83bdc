"""FedYogi: Yogi on the server, applied to the averaged client change.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan, "Adaptive Federated Optimization",
ICLR 2021, Algorithm 2 (FedYogi variant): as FedAdam but with the additive second moment of Yogi
(Zaheer et al., NeurIPS 2018): ``v <- v - (1 - beta2) delta^2 sign(v - delta^2)``; then
``x <- x + eta m / (sqrt(v) + tau)``; ``m_{-1} = 0``, ``v_{-1} = tau^2``, no bias correction.
Client changes are weighted by example count (the paper's uniform mean when sizes are equal).
"""

from __future__ import annotations

from tandem.federated.strategies._fedopt import AdaptiveServerStrategy
from tandem.federated.strategy import LocalObjective, register_strategy


@register_strategy
class FedYogi(AdaptiveServerStrategy):
    """Adaptive server optimizer with Yogi's second moment.

    Parameters: ``eta`` server learning rate (> 0); ``beta1``, ``beta2`` in [0, 1); ``tau`` adaptivity
    (> 0); ``initial_accumulator`` the initial ``v`` (default ``tau**2``); ``objective`` the clients'
    local objective. Learned state: ``m_``, ``v_``.
    """

    name = "fedyogi"
    rule = "yogi"

    def __init__(
        self,
        *,
        eta: float = 1e-2,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 1e-3,
        initial_accumulator: float | None = None,
        objective: LocalObjective | None = None,
    ) -> None:
        super().__init__(
            eta=eta, beta1=beta1, beta2=beta2, tau=tau, initial_accumulator=initial_accumulator, objective=objective
        )
