"""Pure server-optimizer maths: the cloud treats the averaged client change as a gradient.

Sign convention (Reddi et al., ICLR 2021, Algorithm 2): the *pseudo-gradient* is
``delta = sum_k p_k (x_k - x)`` (client minus global, so ``x + delta`` is the FedAvg model) and every
server optimizer *adds* its step: ``x <- x + step``. All maths is done in float32 and the new
parameters are cast back to each tensor's dtype. Functions never modify their arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch

from tandem.core.errors import ConfigError
from tandem.federated.aggregate import weighted_average

Tensors = Mapping[str, torch.Tensor]
AdaptiveRule = Literal["adagrad", "adam", "yogi"]


def pseudo_gradient(
    params: Tensors, client_params: Sequence[Tensors], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """``delta = weighted_average(client_params, weights) - params`` in float32, for each key of ``params``."""
    avg = weighted_average(client_params, weights)
    return {k: avg[k].to(torch.float32) - params[k].to(torch.float32) for k in params}


def apply_step(params: Tensors, step: Tensors) -> dict[str, torch.Tensor]:
    """``params + step`` key by key, computed in float32 and cast back to each parameter's dtype."""
    return {k: (v.to(torch.float32) + step[k]).to(v.dtype) for k, v in params.items()}


def momentum_step(
    params: Tensors, delta: Tensors, momentum: Tensors, *, lr: float, beta: float
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Server heavy-ball momentum (FedAvgM): ``m <- beta m + delta``, ``x <- x + lr m``.

    Returns ``(new_params, new_momentum)``. With ``beta = 0`` and ``lr = 1`` this is FedAvg.
    """
    new_m = {k: beta * momentum[k] + delta[k] for k in params}
    new_x = apply_step(params, {k: lr * new_m[k] for k in params})
    return new_x, new_m


def second_moment(rule: AdaptiveRule, v: torch.Tensor, d: torch.Tensor, beta2: float) -> torch.Tensor:
    """One update of the second-moment estimate ``v`` with pseudo-gradient ``d`` (Reddi et al., Alg. 2).

    * ``adagrad``: ``v + d^2``
    * ``adam``:    ``beta2 v + (1 - beta2) d^2``
    * ``yogi``:    ``v - (1 - beta2) d^2 sign(v - d^2)``
    """
    d2 = d * d
    if rule == "adagrad":
        return v + d2
    if rule == "adam":
        return beta2 * v + (1.0 - beta2) * d2
    if rule == "yogi":
        return v - (1.0 - beta2) * d2 * torch.sign(v - d2)
    raise ConfigError(f"second_moment: unknown rule {rule!r}; expected 'adagrad', 'adam' or 'yogi'")


def adaptive_step(
    rule: AdaptiveRule,
    params: Tensors,
    delta: Tensors,
    m: Tensors,
    v: Tensors,
    *,
    eta: float,
    beta1: float,
    beta2: float,
    tau: float,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One server step of FedAdagrad / FedAdam / FedYogi (Reddi et al., ICLR 2021, Algorithm 2).

    ``m <- beta1 m + (1 - beta1) delta``; ``v <- second_moment(rule, v, delta, beta2)``;
    ``x <- x + eta m / (sqrt(v) + tau)``. No bias correction, as in the paper.
    Returns ``(new_params, new_m, new_v)``.
    """
    new_m = {k: beta1 * m[k] + (1.0 - beta1) * delta[k] for k in params}
    new_v = {k: second_moment(rule, v[k], delta[k], beta2) for k in params}
    step = {k: eta * new_m[k] / (torch.sqrt(new_v[k]) + tau) for k in params}
    return apply_step(params, step), new_m, new_v
