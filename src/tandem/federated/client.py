"""The client step: the one definition of local training that every runtime and the device agent use.

The ``LocalObjective`` contract (:mod:`tandem.federated.strategy`) is turned into maths here, once,
as pure functions; the runtimes only decide how many clients they evaluate at a time:

* :func:`local_order` / :func:`plan_steps`: which rows client ``c`` visits in round ``r`` and how they
  form minibatches (the peer workload's protocol, ``shared/peers/workload.json``):
  ``rng = numpy.random.default_rng([seed, r, c])``; each epoch visits the client's rows in the order
  ``rng.permutation(n_c)`` in minibatches of ``batch_size`` (last partial batch kept).
* :func:`sgd_update` (:func:`step_direction` + :func:`sgd_step` per tensor): one SGD step. The loss of
  a step is the mean loss over its batch plus ``prox_mu/2 ||w - w_global||^2``; the step is
  ``w <- w - lr * (grad + mu (w - w_global) + c - c_i)`` (the control-variate term only for SCAFFOLD),
  skipped for a client that has no step left.
* :func:`scaffold_update`: SCAFFOLD option II's new control variate ``c_i`` and the ``delta_c`` sent up.
* :func:`check_objective`: what a ``LocalObjective`` must satisfy before any work.

Who uses them: :class:`~tandem.federated.client_runtime.ClientRuntime` (the shared bookkeeping: data
views, per-client states, results), :class:`~tandem.federated.client_trainer.SequentialRuntime` (the
reference trainer, any ``nn.Module``, one client at a time; also the device agent's trainer), and the
simulator's batched runtimes (``tandem.sim.runtime``, ``tandem.sim.functional``), which apply the same
functions to ``[K, ...]`` stacks of client parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategy import LocalObjective

Stacked = dict[str, torch.Tensor]
"""``{name: tensor [K, *shape]}``: one tensor per parameter, first dimension over clients."""


# --------------------------------------------------------------------------------------------- data order
def local_order(seed: int, rnd: int, client_id: int, n: int, epochs: int) -> np.ndarray:
    """Positions ``0..n-1`` in the order client ``client_id`` visits them in round ``rnd`` (all epochs):
    ``rng.permutation(n)`` once per epoch with ``rng = numpy.random.default_rng([seed, rnd, client_id])``."""
    rng = np.random.default_rng([seed, rnd, client_id])
    if epochs == 1:
        return rng.permutation(n)
    return np.concatenate([rng.permutation(n) for _ in range(epochs)])


@dataclass(frozen=True)
class StepPlan:
    """Padded minibatches of K clients: step ``s`` of client ``k`` uses ``rows[s, k, :]`` weighted by ``weight``.

    ``weight`` is ``1/b`` on the ``b`` real rows of a batch (the batch mean) and 0 on padding; ``active[s, k]``
    says whether client ``k`` takes step ``s``; ``n_steps[k]`` counts its steps.
    """

    rows: np.ndarray
    weight: np.ndarray
    active: np.ndarray
    n_steps: np.ndarray

    def batch(self, s: int, k: int) -> np.ndarray:
        """The real row ids (no padding) of client ``k``'s step ``s``."""
        return self.rows[s, k][self.weight[s, k] > 0]

    def doubled(self) -> StepPlan:
        """The plan of the same K clients listed twice (Ditto trains two models on the same batches)."""
        rows, weight, active = (np.concatenate([a, a], axis=1) for a in (self.rows, self.weight, self.active))
        return StepPlan(rows, weight, active, np.concatenate([self.n_steps, self.n_steps]))


def plan_steps(orders: Sequence[np.ndarray], sizes: np.ndarray, batch_size: int, epochs: int) -> StepPlan:
    """Minibatch plan from each client's visiting order (``orders[k]``: row ids, ``sizes[k] * epochs`` long)."""
    K, B = len(orders), int(batch_size)
    sizes = np.asarray(sizes, dtype=np.int64)
    per_epoch = -(-sizes // B)
    n_steps = per_epoch * epochs
    S = int(n_steps.max()) if K else 0
    rows = np.zeros((S, K, B), dtype=np.int64)
    weight = np.zeros((S, K, B), dtype=np.float32)
    lengths = sizes * epochs
    if lengths.sum():
        k = np.repeat(np.arange(K), lengths)
        j = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        n = sizes[k]
        i = j % n
        step = (j // n) * per_epoch[k] + i // B
        pos = i % B
        batch = np.minimum(B, n - (i // B) * B).astype(np.float32)
        rows[step, k, pos] = np.concatenate(orders)
        weight[step, k, pos] = np.float32(1.0) / batch
    active = np.arange(S)[:, None] < n_steps[None, :]
    return StepPlan(rows, weight, active, n_steps)


# --------------------------------------------------------------------------------------------- objective
def check_objective(obj: LocalObjective) -> None:
    """Raise :class:`ConfigError` for a ``LocalObjective`` no runtime can train (before any work)."""
    if not (obj.lr > 0 and obj.epochs >= 1 and obj.batch_size >= 1):
        raise ConfigError(
            f"LocalObjective needs lr > 0, epochs >= 1 and batch_size >= 1; got lr={obj.lr}, "
            f"epochs={obj.epochs}, batch_size={obj.batch_size}"
        )
    if obj.prox_mu < 0 or obj.ditto_lambda < 0:
        raise ConfigError(
            f"LocalObjective: prox_mu and ditto_lambda must be >= 0, got {obj.prox_mu}, {obj.ditto_lambda}"
        )


# ------------------------------------------------------------------------------------------ one SGD step
def per_client(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``[K]`` vector viewed as ``[K, 1, ...]`` to broadcast over a stacked ``[K, *shape]`` tensor."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def step_direction(
    grad: torch.Tensor,
    param: torch.Tensor,
    anchor: torch.Tensor,
    *,
    mu: float | torch.Tensor | None = None,
    correction: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """The direction of one local SGD step: ``grad + mu * (param - anchor) + correction``, zero where inactive.

    ``grad`` is the gradient of the batch loss; ``anchor`` the received global value (FedProx's and
    Ditto's proximal centre); ``correction`` SCAFFOLD's ``c - c_i``; ``active`` 1/0 per client (a client
    with no step left must not move even though its proximal and correction terms are non-zero). All
    may be single tensors or ``[K, ...]`` stacks (then ``mu`` and ``active`` broadcast, see
    :func:`per_client`). Pure: nothing is modified.
    """
    if mu is not None and (not isinstance(mu, float | int) or mu > 0):
        grad = grad + mu * (param - anchor)
    if correction is not None:
        grad = grad + correction
    if active is not None:
        grad = grad * active
    return grad


def sgd_step(param: torch.Tensor, direction: torch.Tensor, lr: float) -> torch.Tensor:
    """``param - lr * direction`` as one fused op (the same rounding as an in-place ``add_(d, alpha=-lr)``)."""
    return torch.add(param, direction, alpha=-float(lr))


def sgd_update(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    anchor: Mapping[str, torch.Tensor],
    lr: float,
    *,
    mu: float | torch.Tensor | None = None,
    correction: Mapping[str, torch.Tensor] | None = None,
    active: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """One local SGD step of every parameter: ``{key: sgd_step(p, step_direction(...), lr)}`` (new tensors).

    Either one client (tensors as the model's, ``mu`` a float, ``active`` unused) or K clients stacked
    (``[K, *shape]`` params, grads and correction; ``mu`` a float or a ``[K]`` vector, ``active`` a ``[K]``
    vector of 1/0). ``correction`` may cover only some keys (SCAFFOLD's ``c`` covers the shared
    parameters). This is THE local step of every runtime.
    """
    out = {}
    for key, p in params.items():
        corr = correction.get(key) if correction is not None else None
        mu_k = per_client(mu, p) if isinstance(mu, torch.Tensor) else mu
        act = per_client(active, p) if active is not None else None
        direction = step_direction(grads[key], p, anchor[key], mu=mu_k, correction=corr, active=act)
        out[key] = sgd_step(p, direction, lr)
    return out


def sgd_update_(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    anchor: Mapping[str, torch.Tensor],
    lr: float,
    *,
    mu: float | torch.Tensor | None = None,
    correction: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """:func:`sgd_update` in place (``p.add_(direction, alpha=-lr)``, the rounding of :func:`sgd_step`), for
    batched runtimes that step the live clients' rows of their stacks; every client given takes the step."""
    for key, p in params.items():
        corr = correction.get(key) if correction is not None else None
        mu_k = per_client(mu, p) if isinstance(mu, torch.Tensor) else mu
        p.add_(step_direction(grads[key], p, anchor[key], mu=mu_k, correction=corr), alpha=-float(lr))


def scaffold_update(
    c_i: Mapping[str, torch.Tensor],
    c: Mapping[str, torch.Tensor],
    anchor: Mapping[str, torch.Tensor],
    trained: Mapping[str, torch.Tensor],
    n_steps: np.ndarray,
    lr: float,
) -> tuple[Stacked, Stacked]:
    """SCAFFOLD option II for K clients: ``(c_i_new, delta_c)``, both ``{key: [K, ...]}``.

    ``c_i_new = c_i - c + (x - y_i) / (n_steps_i * lr)`` with ``x`` the received global parameters
    (``anchor``, unstacked), ``y_i`` the client's trained ones (``trained``, stacked) and ``c`` the
    server control variate (unstacked); ``delta_c = c_i_new - c_i`` is what the client sends up.
    """
    denom = torch.as_tensor(np.asarray(n_steps) * lr, dtype=torch.float32)
    c_new: Stacked = {}
    delta: Stacked = {}
    for key, c_k in c.items():
        step = (anchor[key].unsqueeze(0) - trained[key]) / per_client(denom, trained[key])
        c_new[key] = c_i[key] - c_k.unsqueeze(0) + step
        delta[key] = c_new[key] - c_i[key]
    return c_new, delta
