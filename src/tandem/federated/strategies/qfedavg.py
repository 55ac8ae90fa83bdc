"""q-FedAvg: fair federated averaging that up-weights clients with a high loss.

Li, Sanjabi, Beirami and Smith, "Fair Resource Allocation in Federated Learning", ICLR 2020,
Algorithm 2 (q-FedAvg), solving the q-FFL objective ``min_w sum_k p_k F_k^{q+1}(w) / (q+1)``. With
``w`` the global model, ``w_k`` client k's locally trained model, ``F_k = F_k(w)`` its loss on the
*received* model and ``L`` a Lipschitz estimate (default ``1 / lr`` of the local SGD, as in the paper):

    Delta_k = L (w - w_k)
    h_k     = q F_k^(q-1) ||Delta_k||^2 + L F_k^q
    w      <- w - sum_k F_k^q Delta_k / sum_k h_k

``||.||`` is the Euclidean norm over all parameters together. Sums are uniform over the sampled clients
(the paper samples clients with probability ``p_k``). ``q = 0`` gives the uniform mean of the client
models. Clients with ``n_examples == 0`` have no loss and are left out. Losses are clamped below at
``eps`` so that ``F_k^(q-1)`` stays finite for ``q < 1``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.strategies._common import build_objective, check_number, check_results
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy, register_strategy

Tensors = Mapping[str, torch.Tensor]


def qfedavg_update(
    params: Tensors,
    client_params: Sequence[Tensors],
    losses: Sequence[float],
    *,
    q: float,
    lipschitz: float,
    eps: float = 1e-10,
) -> dict[str, torch.Tensor]:
    """q-FedAvg's server step (see module docstring); returns the new parameters, computed in float64."""
    if not client_params or len(client_params) != len(losses):
        raise ConfigError(
            f"qfedavg_update: need one loss per client model (>= 1), got {len(client_params)} and {len(losses)}"
        )
    x64 = {k: v.to(torch.float64) for k, v in params.items()}
    num = {k: torch.zeros_like(v) for k, v in x64.items()}
    den = 0.0
    for w_k, loss in zip(client_params, losses, strict=True):
        f = max(float(loss), eps)
        fq = f**q
        delta = {k: lipschitz * (x64[k] - w_k[k].to(torch.float64)) for k in x64}
        sq_norm = math.fsum(float((d * d).sum()) for d in delta.values())
        den += q * f ** (q - 1.0) * sq_norm + lipschitz * fq
        for k in x64:
            num[k] += fq * delta[k]
    return {k: (x64[k] - num[k] / den).to(v.dtype) for k, v in params.items()}


@register_strategy
class QFedAvg(Strategy):
    """q-FedAvg: FedAvg re-weighted towards the clients the global model serves worst.

    Parameters
    ----------
    q:
        Fairness strength (>= 0); 0 is plain (uniform) averaging, larger q favours high-loss clients.
    lipschitz:
        ``L`` (> 0); ``None`` uses ``1 / objective.lr``.
    eps:
        Lower clamp of the reported losses (> 0).
    objective:
        The rest of the clients' local objective; ``report_loss`` is set to True.
    """

    name = "qfedavg"

    def __init__(
        self,
        *,
        q: float = 1.0,
        lipschitz: float | None = None,
        eps: float = 1e-10,
        objective: LocalObjective | None = None,
    ) -> None:
        self.q = check_number(self.name, "q", q, low=0.0)
        self.lipschitz = (
            None if lipschitz is None else check_number(self.name, "lipschitz", lipschitz, low=0.0, low_inclusive=False)
        )
        self.eps = check_number(self.name, "eps", eps, low=0.0, low_inclusive=False)
        super().__init__(build_objective(self.name, objective, report_loss=True))
        if self.lipschitz is None and self.objective.lr <= 0:
            raise ConfigError(f"{self.name}: objective.lr must be > 0 to derive L = 1/lr, got {self.objective.lr}")

    @property
    def lipschitz_constant(self) -> float:
        """The ``L`` in use: ``lipschitz`` if given, else ``1 / objective.lr``."""
        return self.lipschitz if self.lipschitz is not None else 1.0 / self.objective.lr

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        check_results(self.name, rnd, params, results)
        trained = [r for r in results if r.n_examples > 0]
        losses: list[float] = []
        for r in trained:
            loss = r.loss_before
            if loss is None:
                raise PayloadError(
                    f"{self.name}: client {r.client_id} sent no loss_before "
                    "(its runtime must honour LocalObjective.report_loss)"
                )
            if isinstance(loss, bool) or not isinstance(loss, numbers.Real) or not math.isfinite(loss) or loss < 0:
                raise PayloadError(f"{self.name}: client {r.client_id} sent loss_before={loss!r}, expected finite >= 0")
            losses.append(float(loss))
        return qfedavg_update(
            params, [r.params for r in trained], losses, q=self.q, lipschitz=self.lipschitz_constant, eps=self.eps
        )
