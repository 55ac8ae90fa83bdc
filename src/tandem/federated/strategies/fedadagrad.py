"""FedAdagrad: Adagrad on the server, applied to the averaged client change.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan, "Adaptive Federated Optimization",
ICLR 2021, Algorithm 2 (FedAdagrad variant): ``delta = sum_k (n_k / n) (x_k - x)``,
``m <- beta1 m + (1 - beta1) delta``, ``v <- v + delta^2``, ``x <- x + eta m / (sqrt(v) + tau)``;
``m_{-1} = 0``, ``v_{-1} = tau^2``, no bias correction. ``beta1`` defaults to 0 (plain Adagrad, no
server momentum); set it to use Algorithm 2's momentum term. Client changes are weighted by example
count (the paper's uniform mean when sizes are equal).
"""

from __future__ import annotations

from tandem.federated.strategies._fedopt import AdaptiveServerStrategy
from tandem.federated.strategy import LocalObjective, register_strategy


@register_strategy
class FedAdagrad(AdaptiveServerStrategy):
    """Adaptive server optimizer with Adagrad's accumulated second moment.

    Parameters: ``eta`` server learning rate (> 0); ``beta1`` in [0, 1); ``tau`` adaptivity (> 0);
    ``initial_accumulator`` the initial ``v`` (default ``tau**2``); ``objective`` the clients' local
    objective. Learned state: ``m_``, ``v_``.
    """

    name = "fedadagrad"
    rule = "adagrad"

    def __init__(
        self,
        *,
        eta: float = 1e-2,
        beta1: float = 0.0,
        tau: float = 1e-3,
        initial_accumulator: float | None = None,
        objective: LocalObjective | None = None,
    ) -> None:
        super().__init__(
            eta=eta, beta1=beta1, beta2=0.0, tau=tau, initial_accumulator=initial_accumulator, objective=objective
        )
