"""The simulator's batched client runtimes, and :func:`make_runtime` to pick one.

Every runtime trains with the one client step of :mod:`tandem.federated.client` (data order, minibatch
plan, SGD step with proximal and control-variate terms, SCAFFOLD update) and the shared bookkeeping of
:class:`~tandem.federated.client_runtime.ClientRuntime`; they differ only in how many clients one
tensor operation serves:

* :class:`BatchedRuntime` (this module): every client of a round in one stacked MLP: per-client
  parameters are ``[K, ...]`` tensors, a Linear layer is one ``baddbmm`` over all clients
  (:class:`~tandem.sim.stacked.StackedMLP`), per-client minibatches are padded to the batch size and
  weighted, and one autograd pass per step gives every client's gradient. Plain MLPs only; the fastest.
* :class:`~tandem.sim.functional.FunctionalRuntime`: any module whose parameters stack (CNNs, embedding +
  GRU models), batched with ``torch.func.vmap`` over ``functional_call``.
* :class:`~tandem.federated.client_trainer.SequentialRuntime`: any ``nn.Module``, one client at a time
  (the reference; also the device agent's trainer).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.federated.client import Stacked, sgd_update_
from tandem.federated.client_runtime import ActivePrefix, ClientRuntime, Joint, Runtime, Trained, TrainJob
from tandem.federated.client_trainer import SequentialRuntime
from tandem.sim.stacked import StackedMLP

log = logging.getLogger(__name__)

__all__ = ["RUNTIMES", "BatchedRuntime", "make_runtime"]


class BatchedRuntime(ClientRuntime):
    """All clients of a round in one stacked model: batched matmuls, one autograd pass per step.

    Raises :class:`ConfigError` for a model :class:`StackedMLP` cannot stack; use :func:`make_runtime`
    to fall back to :class:`SequentialRuntime` automatically.
    """

    def __init__(self, model: nn.Module, data: ClientData, *, seed: int = 0, max_clients: int = 1024) -> None:
        super().__init__(model, data, seed=seed, max_clients=max_clients)
        spec = StackedMLP.from_module(model)
        if spec is None:
            raise ConfigError(
                f"BatchedRuntime supports nn.Linear / nn.Sequential of Linear and element-wise activations "
                f"without buffers; {type(model).__name__} is not one (use SequentialRuntime)"
            )
        self.spec = spec

    @property
    def flops_per_example(self) -> float:
        return 3.0 * self.spec.forward_flops()

    def _logits(self, params: Stacked, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return self.spec.forward(params, x[torch.from_numpy(idx)])

    def _train(self, job: TrainJob) -> Trained:
        joint = Joint.of(job, self.keys)
        # models sorted by steps taken, most first: step s runs on the prefix still training (no padding
        # for clients that are done; a model that is not computed does not move, as in the reference)
        prefix = ActivePrefix.of(joint.steps)
        X, y = job.view.X, job.view.y
        rows_t, weight_t = torch.from_numpy(prefix.rows), torch.from_numpy(prefix.weight)
        params = prefix.sort(joint.start)
        mu = None if joint.mu is None else joint.mu[torch.from_numpy(prefix.order)]
        correction = None if joint.correction is None else prefix.sort(joint.correction)
        loss_sum = torch.zeros(len(prefix.order), dtype=torch.float32)
        lr = job.objective.lr
        for s, m in enumerate(prefix.counts.tolist()):
            live = {k: v[:m].detach().requires_grad_(True) for k, v in params.items()}
            batch = rows_t[s, :m]
            with torch.enable_grad():
                out = self.spec.forward(live, X[batch])
                ce = F.cross_entropy(out.reshape(-1, out.shape[-1]), y[batch].reshape(-1), reduction="none")
                per_client = (ce.view(m, -1) * weight_t[s, :m]).sum(1)
                grads = torch.autograd.grad(per_client.sum(), list(live.values()))
            with torch.no_grad():
                loss_sum[:m] += per_client.detach()
                sgd_update_(
                    {k: v[:m] for k, v in params.items()}, dict(zip(live, grads, strict=True)), job.anchor, lr,
                    mu=None if mu is None else mu[:m],
                    correction=None if correction is None else {k: v[:m] for k, v in correction.items()},
                )
        trained = prefix.unsort(params)
        return joint.trained(trained, prefix.unsort_array(loss_sum.numpy()).astype(np.float64))


RUNTIMES = ("auto", "batched", "functional", "sequential", "ray")


def make_runtime(
    kind: str, model: nn.Module, data: ClientData, *, seed: int = 0, max_clients: int = 1024, **kwargs: Any
) -> Runtime:
    """A client runtime by name (``kwargs``, e.g. ``loss_fn``, go to the runtime).

    ``"batched"`` (:class:`BatchedRuntime`, plain MLPs), ``"functional"`` (alias ``"vmap"``,
    :class:`~tandem.sim.functional.FunctionalRuntime`, any module whose parameters stack),
    ``"sequential"`` (the reference trainer, any module), ``"ray"``
    (:class:`~tandem.sim.ray_backend.RayRuntime`), or ``"auto"``: the hand-written MLP path when the model
    is a plain MLP trained with cross-entropy (fastest; docs/architecture.md, "Batched execution"), else
    the functional runtime when the model stacks, else sequential (the reason is logged).
    """
    if kind == "vmap":
        kind = "functional"
    if kind == "auto":
        cross_entropy = kwargs.get("loss_fn", F.cross_entropy) is F.cross_entropy
        if cross_entropy and StackedMLP.from_module(model) is not None:
            return BatchedRuntime(model, data, seed=seed, max_clients=max_clients)
        from tandem.sim.functional import FunctionalRuntime, unstackable_reason

        reason = unstackable_reason(model)
        if reason is None:
            try:
                return FunctionalRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
            except ConfigError as e:
                reason = str(e)
        log.info("runtime auto: %s trains one client at a time (%s)", type(model).__name__, reason)
        kind = "sequential"
    if kind == "batched":
        return BatchedRuntime(model, data, seed=seed, max_clients=max_clients)
    if kind == "functional":
        from tandem.sim.functional import FunctionalRuntime

        return FunctionalRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
    if kind == "sequential":
        return SequentialRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
    if kind == "ray":
        from tandem.sim.ray_backend import RayRuntime

        return RayRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
    raise ConfigError(f"unknown runtime {kind!r}; choose one of {', '.join(RUNTIMES)} (or vmap)")
