"""Shared orchestration of the adaptive server optimizers FedAdagrad, FedAdam and FedYogi.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan, "Adaptive Federated Optimization",
ICLR 2021, Algorithm 2. The maths lives in :func:`tandem.federated.servers_opt.adaptive_step`; this base
class only keeps the buffers ``m_`` and ``v_`` and checkpoints them. Not registered itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tandem.core.errors import ConfigError
from tandem.federated.servers_opt import AdaptiveRule, adaptive_step, pseudo_gradient
from tandem.federated.strategies._common import (
    build_objective,
    check_buffers,
    check_number,
    check_results,
    example_weights,
    state_or_init,
    zeros_like_params,
)
from tandem.federated.strategy import ClientResult, LocalObjective, Params, Strategy


class AdaptiveServerStrategy(Strategy):
    """Base of FedAdagrad / FedAdam / FedYogi: ``rule`` picks the second-moment update."""

    rule: ClassVar[AdaptiveRule]

    def __init__(
        self,
        *,
        eta: float,
        beta1: float,
        beta2: float,
        tau: float,
        initial_accumulator: float | None,
        objective: LocalObjective | None,
    ) -> None:
        super().__init__(build_objective(self.name, objective))
        self.eta = check_number(self.name, "eta", eta, low=0.0, low_inclusive=False)
        self.beta1 = check_number(self.name, "beta1", beta1, low=0.0, high=1.0)
        self.beta2 = check_number(self.name, "beta2", beta2, low=0.0, high=1.0)
        self.tau = check_number(self.name, "tau", tau, low=0.0, low_inclusive=False)
        self.initial_accumulator = (
            None
            if initial_accumulator is None
            else check_number(self.name, "initial_accumulator", initial_accumulator, low=0.0)
        )
        self.m_: Params | None = None
        self.v_: Params | None = None

    @property
    def _v0(self) -> float:
        """``v_{-1}``: Algorithm 2 asks for ``v_{-1} >= tau^2``; ``tau^2`` unless set."""
        return self.tau**2 if self.initial_accumulator is None else self.initial_accumulator

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self.m_ = zeros_like_params(params)
        self.v_ = zeros_like_params(params, self._v0)

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        check_results(self.name, rnd, params, results)
        m = state_or_init(self.name, "m", self.m_, params)
        v = state_or_init(self.name, "v", self.v_, params, self._v0)
        delta = pseudo_gradient(params, [r.params for r in results], example_weights(results))
        new_params, new_m, new_v = adaptive_step(
            self.rule, params, delta, m, v, eta=self.eta, beta1=self.beta1, beta2=self.beta2, tau=self.tau
        )
        self.m_, self.v_ = new_m, new_v
        return new_params

    def state_dict(self) -> dict[str, Any]:
        def copy(buffers: Params | None) -> Params | None:
            return None if buffers is None else {k: t.clone() for k, t in buffers.items()}

        return {"m": copy(self.m_), "v": copy(self.v_)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in ("m", "v") if k not in state]
        if missing:
            raise ConfigError(f"{self.name}: checkpoint lacks {missing}")
        m, v = state["m"], state["v"]
        if (m is None) != (v is None):
            raise ConfigError(f"{self.name}: checkpoint has only one of 'm' and 'v'")
        if m is None:
            self.m_ = self.v_ = None
            return
        new_m = check_buffers(self.name, "m", m, m)
        new_v = check_buffers(self.name, "v", v, m)
        if any(bool((t < 0).any()) for t in new_v.values()):
            raise ConfigError(f"{self.name}: checkpoint 'v' has negative entries")
        self.m_, self.v_ = new_m, new_v
