"""SCAFFOLD: stochastic controlled averaging with server and client control variates.

Karimireddy, Kale, Mohri, Reddi, Stich and Suresh, "SCAFFOLD: Stochastic Controlled Averaging for
Federated Learning", ICML 2020, Algorithm 1 with option II. Clients correct every local gradient by
``c - c_i`` and update ``c_i+ = c_i - c + (x - y_i) / (K eta_l)`` (the client runtime's job,
``LocalObjective.control_variates``); they return their model ``y_i`` and ``delta_c = c_i+ - c_i``.
The server (lines 16-17) applies, over the sampled set ``S`` of a population of ``N``:

    x <- x + eta_g * (1/|S|) sum_i (y_i - x)
    c <- c + (|S| / N) * (1/|S|) sum_i delta_c_i

``N`` is the population the run already has: the engine passes it to ``initialize(params, n_clients=N)``;
``n_clients_total`` remains for driving the strategy by hand. The means are uniform, as in the paper.
Clients that report ``n_examples == 0`` made no local steps
(``y_i = x``, ``delta_c_i = 0``) and are left out of ``S``: the ``c`` update is unchanged by this and
the ``x`` step is not diluted by clients that did not train.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.servers_opt import apply_step
from tandem.federated.strategies._common import (
    build_objective,
    check_buffers,
    check_number,
    check_results,
    check_tensor_sets,
    state_or_init,
    zeros_like_params,
)
from tandem.federated.strategy import (
    ClientResult,
    LocalObjective,
    Params,
    RoundPlan,
    Strategy,
    register_strategy,
)

Tensors = Mapping[str, torch.Tensor]


def scaffold_update(
    params: Tensors,
    client_params: Sequence[Tensors],
    delta_cs: Sequence[Tensors],
    c: Tensors,
    *,
    global_lr: float,
    n_clients_total: int,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """SCAFFOLD's server step (Algorithm 1, lines 16-17); returns ``(new_params, new_c)``.

    ``new_params = x + global_lr * mean_i(y_i - x)`` and ``new_c = c + (|S| / N) * mean_i(delta_c_i)``,
    computed in float32 (``new_c`` stays float32; parameters are cast back to their dtype).
    """
    n = len(client_params)
    if n == 0 or n != len(delta_cs):
        raise ConfigError(f"scaffold_update: need as many delta_c as client models (>= 1), got {n} and {len(delta_cs)}")
    if n > n_clients_total:
        raise ConfigError(f"scaffold_update: {n} clients in the round but n_clients_total={n_clients_total}")
    step: dict[str, torch.Tensor] = {}
    new_c: dict[str, torch.Tensor] = {}
    for key, x in params.items():
        x32 = x.to(torch.float32)
        dx = torch.zeros_like(x32)
        dc = torch.zeros_like(x32)
        for y, d in zip(client_params, delta_cs, strict=True):
            dx += y[key].to(torch.float32) - x32
            dc += d[key].to(torch.float32)
        step[key] = global_lr * (dx / n)
        new_c[key] = c[key].to(torch.float32) + (n / n_clients_total) * (dc / n)
    return apply_step(params, step), new_c


@register_strategy
class Scaffold(Strategy):
    """SCAFFOLD, option II: the server keeps the control variate ``c`` and sends it every round.

    Parameters
    ----------
    n_clients_total:
        ``N``, the number of clients in the population (each round's ``|S| <= N``). Leave it ``None``: the
        engine passes the population to :meth:`initialize`. Given, it must agree with the engine's.
    global_lr:
        Server step size ``eta_g`` (> 0; the paper's default is 1).
    objective:
        The rest of the clients' local objective; ``control_variates`` is set to True.

    Learned state: ``c_``, the server control variate (float32 per parameter); ``n_clients_``, the ``N`` in use.
    Client results must carry ``extra["delta_c"]``, a dict of tensors shaped like the parameters.
    """

    name = "scaffold"

    def __init__(
        self,
        *,
        n_clients_total: int | None = None,
        global_lr: float = 1.0,
        objective: LocalObjective | None = None,
    ) -> None:
        self.n_clients_total = None if n_clients_total is None else _population(n_clients_total, "n_clients_total")
        self.n_clients_: int | None = self.n_clients_total
        self.global_lr = check_number(self.name, "global_lr", global_lr, low=0.0, low_inclusive=False)
        super().__init__(build_objective(self.name, objective, control_variates=True))
        self.c_: Params | None = None

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        if n_clients is not None:
            n = _population(n_clients, "n_clients")
            if self.n_clients_total is not None and self.n_clients_total != n:
                raise ConfigError(
                    f"{self.name}: n_clients_total={self.n_clients_total} but the run has {n} clients; "
                    "leave n_clients_total unset and the run's population is used"
                )
            self.n_clients_ = n
        self.c_ = zeros_like_params(params)

    def _population_size(self) -> int:
        if self.n_clients_ is None:
            raise ConfigError(
                f"{self.name}: the population size N is unknown; the engine passes it as "
                "initialize(params, n_clients=N) (driving the strategy by hand: do that, or give n_clients_total=N)"
            )
        return self.n_clients_

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        self._population_size()
        c = state_or_init(self.name, "c", self.c_, params)
        self.c_ = c
        server_state = {"c": {k: v.clone() for k, v in c.items()}}
        return RoundPlan(round=rnd, params=params, objective=self.objective, server_state=server_state)

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        check_results(self.name, rnd, params, results)
        c = state_or_init(self.name, "c", self.c_, params)
        trained = [r for r in results if r.n_examples > 0]
        for r in trained:
            if "delta_c" not in r.extra:
                raise PayloadError(
                    f"{self.name}: client {r.client_id} sent no extra['delta_c'] "
                    "(its runtime must honour LocalObjective.control_variates)"
                )
        items = [(r.client_id, r.extra["delta_c"]) for r in trained]
        check_tensor_sets(self.name, "extra['delta_c']", items, params, list(params))
        n_total = self._population_size()
        if len(trained) > n_total:
            raise ConfigError(
                f"{self.name}: {len(trained)} clients trained in round {rnd} but n_clients_total={n_total}"
            )
        new_params, new_c = scaffold_update(
            params,
            [r.params for r in trained],
            [r.extra["delta_c"] for r in trained],
            c,
            global_lr=self.global_lr,
            n_clients_total=n_total,
        )
        self.c_ = new_c
        return new_params

    def state_dict(self) -> dict[str, Any]:
        c = None if self.c_ is None else {k: v.clone() for k, v in self.c_.items()}
        return {"c": c, "n_clients": self.n_clients_}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "c" not in state:
            raise ConfigError(f"{self.name}: checkpoint has no 'c' entry")
        c = state["c"]
        self.c_ = None if c is None else check_buffers(self.name, "c", c, c)
        if state.get("n_clients") is not None:  # checkpoints before the population moved to initialize lack it
            self.n_clients_ = _population(state["n_clients"], "checkpoint n_clients")


def _population(value: Any, what: str) -> int:
    """``value`` as the population size ``N`` (an int >= 1), or ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"scaffold: {what} must be an int >= 1, got {value!r}")
    return int(value)
