"""A batched runtime for any module whose parameters stack: ``torch.func.vmap`` over ``functional_call``.

:class:`FunctionalRuntime` trains the K clients of a round as one ``[K, ...]`` stack per parameter, like
:class:`~tandem.sim.runtime.BatchedRuntime`, but for any ``nn.Module`` (convolutions, embeddings,
recurrent layers, custom forwards), not only plain MLPs: the client loss is written once on one
client's parameters with ``torch.func.functional_call``, and ``vmap(grad_and_value(loss))`` evaluates
it for every client in one call per step. The step itself is :func:`tandem.federated.client.sgd_update`,
so the semantics are those of the reference trainer
(:class:`~tandem.federated.client_trainer.SequentialRuntime`): same data order, FedProx, SCAFFOLD,
FedPer, Ditto, ``report_loss``.

What cannot be batched, and is refused with a :class:`~tandem.core.errors.ConfigError` (``make_runtime
("auto")`` then falls back to the sequential runtime):

* modules with buffers (BatchNorm's running statistics are updated in place per forward pass, so the
  clients of a stack would share, or fight over, one set);
* parameters shared between modules or ``state_dict`` entries that are not parameters (the federated
  parameters must be exactly the trainable ones);
* dropout with ``p > 0`` (random masks per client cannot reproduce the reference trainer's draws);
* ops ``vmap`` has no batching rule for (found by one probe step on two clients at construction).

``torch.func`` is imported on first construction only: its first use imports ``torch._dynamo``
(about a second), which the MLP and sequential paths never pay.

The loss: ``loss_fn(outputs, targets)`` must be a mean over examples of a per-example loss (cross-entropy,
MSE, ...). Minibatches of a step are padded to ``batch_size`` across clients; each client's loss is the
per-example loss weighted ``1/b`` on its ``b`` real rows, which is exactly the mean the reference takes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.federated.client import Stacked, sgd_update_
from tandem.federated.client_runtime import ActivePrefix, ClientRuntime, Joint, Trained, TrainJob
from tandem.federated.client_trainer import LossFn

_PROBE_CLIENTS = 2
log = logging.getLogger(__name__)


def unstackable_reason(model: nn.Module) -> str | None:
    """Why ``model``'s parameters cannot be trained as a vmapped stack, or ``None`` when they can (static checks)."""
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        return f"it has buffers ({', '.join(buffers[:3])}; e.g. BatchNorm running statistics)"
    dropout = [name for name, m in model.named_modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    if dropout:
        return f"it has dropout with p > 0 ({', '.join(dropout[:3])}): per-client random masks cannot be reproduced"
    params = dict(model.named_parameters())
    keys = list(model.state_dict().keys())
    if set(keys) != set(params) or len(keys) != len(params):
        extra = sorted(set(keys) ^ set(params))
        return f"its state_dict entries are not exactly its parameters (shared or extra entries: {extra[:3]})"
    if not params:
        return "it has no parameters"
    frozen = [name for name, p in params.items() if not p.requires_grad]
    if frozen:
        return f"it has frozen parameters ({', '.join(frozen[:3])})"
    return None


class FunctionalRuntime(ClientRuntime):
    """Any module whose parameters stack, every client of a round in one ``vmap`` call per step.

    Parameters
    ----------
    model, data, seed, max_clients:
        As for :class:`~tandem.federated.client_runtime.ClientRuntime`.
    loss_fn:
        ``loss_fn(outputs, targets)``, a mean over examples (see the module docstring); cross-entropy
        by default.
    probe:
        Run one training step on two copies at construction, so that an op ``vmap`` cannot batch is a
        :class:`ConfigError` here rather than in the middle of a round.

    Raises :class:`ConfigError` when the model cannot be batched (module docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        *,
        seed: int = 0,
        max_clients: int = 1024,
        loss_fn: LossFn = F.cross_entropy,
        probe: bool = True,
    ) -> None:
        super().__init__(model, data, seed=seed, max_clients=max_clients)
        reason = unstackable_reason(model)
        if reason is not None:
            raise ConfigError(
                f"FunctionalRuntime cannot batch {type(model).__name__}: {reason}; use runtime='sequential'"
            )
        from torch.func import functional_call, grad_and_value, vmap  # lazy: imports torch._dynamo

        self.work = copy.deepcopy(model).train()
        self.loss_fn = loss_fn
        self._n_params = sum(p.numel() for p in model.parameters())
        self._functional_call = functional_call
        self._vmap = vmap
        self._per_example = self._per_example_loss(loss_fn)
        self._step = vmap(grad_and_value(self._client_loss))
        self._forward = vmap(self._client_forward)
        self._batched_eval = True
        if probe:
            self._probe()

    @property
    def flops_per_example(self) -> float:
        # as the sequential runtime: 2 FLOPs per parameter forward, twice that backward
        return 6.0 * self._n_params

    # -- the functional client model -----------------------------------------------------------------------
    def _per_example_loss(self, loss_fn: LossFn) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        if loss_fn is F.cross_entropy:
            return lambda out, y: F.cross_entropy(out, y, reduction="none")
        one: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0))  # noqa: E731
        return self._vmap(one)

    def _client_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return self._functional_call(self.work, params, (x,))

    def _client_loss(
        self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """One client's batch loss: per-example losses weighted ``1/b`` on real rows, 0 on padding."""
        return (self._per_example(self._client_forward(params, x), y) * weight).sum()

    def _batched_step(
        self, params: Stacked, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        try:
            return self._step(params, x, y, weight)
        except (RuntimeError, NotImplementedError, ValueError) as e:
            raise ConfigError(
                f"FunctionalRuntime cannot batch {type(self.model).__name__} with torch.func.vmap ({e}); "
                "use runtime='sequential'"
            ) from e

    def _single_step(
        self, params: Stacked, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """:meth:`_batched_step` for a stack of one client without ``vmap`` (whose per-call cost is several
        times a small model's step): the same loss through ``functional_call`` and plain autograd. Steps
        where one client is left (the largest client's tail) are common with uneven clients."""
        one = {k: v[0].detach().requires_grad_(True) for k, v in params.items()}
        with torch.enable_grad():
            loss = self._client_loss(one, x[0], y[0], weight[0])
            grads = torch.autograd.grad(loss, list(one.values()))
        return {k: g.unsqueeze(0) for k, g in zip(one, grads, strict=True)}, loss.detach().unsqueeze(0)

    def _probe(self) -> None:
        """One step on two copies of the model with rows of the first clients that have data."""
        ids = np.arange(min(self.data.n_clients, 16), dtype=np.int64)
        view = self.data.round_view(ids) if len(ids) else None
        rows = next((r for r in view.rows if len(r)), None) if view is not None else None
        if view is None or rows is None:
            return  # nothing to probe with; an unbatchable op surfaces as ConfigError in fit()
        idx = torch.from_numpy(np.resize(rows, 2))
        x = view.X[idx].unsqueeze(0).expand(_PROBE_CLIENTS, *view.X[idx].shape)
        y = view.y[idx].unsqueeze(0).expand(_PROBE_CLIENTS, 2)
        params = {
            k: v.detach().unsqueeze(0).repeat(_PROBE_CLIENTS, *([1] * v.dim())) for k, v in self._params().items()
        }
        self._batched_step(params, x, y, torch.full((_PROBE_CLIENTS, 2), 0.5))

    def _params(self) -> dict[str, torch.Tensor]:
        return dict(self.work.named_parameters())

    # -- ClientRuntime -------------------------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, params: Stacked, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        inputs = x[torch.from_numpy(idx)]
        self.work.eval()
        try:
            if self._batched_eval:
                try:
                    return self._forward(dict(params), inputs)
                except RuntimeError as e:
                    # some fused ops (nn.GRU's aten::gru) batch only through their autograd decomposition,
                    # i.e. inside grad; evaluation, being rarer than training, then goes client by client
                    log.info("FunctionalRuntime: evaluating %s client by client (%s)", type(self.model).__name__, e)
                    self._batched_eval = False
            return torch.stack(
                [self._client_forward({k: v[c] for k, v in params.items()}, inputs[c]) for c in range(len(inputs))]
            )
        finally:
            self.work.train()

    def _train(self, job: TrainJob) -> Trained:
        joint = Joint.of(job, self.keys)
        # step s runs on the prefix of models still training (see ActivePrefix): no padded clients
        prefix = ActivePrefix.of(joint.steps)
        X, y = job.view.X, job.view.y
        rows_t, weight_t = torch.from_numpy(prefix.rows), torch.from_numpy(prefix.weight)
        params = prefix.sort(joint.start)
        mu = None if joint.mu is None else joint.mu[torch.from_numpy(prefix.order)]
        correction = None if joint.correction is None else prefix.sort(joint.correction)
        loss_sum = torch.zeros(len(prefix.order), dtype=torch.float32)
        lr = job.objective.lr
        for s, m in enumerate(prefix.counts.tolist()):
            live = {k: v[:m] for k, v in params.items()}
            batch = rows_t[s, :m]
            step = self._single_step if m == 1 else self._batched_step
            grads, loss = step(live, X[batch], y[batch], weight_t[s, :m])
            with torch.no_grad():
                loss_sum[:m] += loss.detach()
                sgd_update_(
                    live, grads, job.anchor, lr,
                    mu=None if mu is None else mu[:m],
                    correction=None if correction is None else {k: v[:m] for k, v in correction.items()},
                )
        trained = prefix.unsort(params)
        return joint.trained(trained, prefix.unsort_array(loss_sum.numpy()).astype(np.float64))


def stacks(model: nn.Module, data: ClientData, **kwargs: Any) -> FunctionalRuntime | None:
    """A :class:`FunctionalRuntime` for ``model`` if it batches, else ``None`` (``kwargs`` go to the runtime)."""
    try:
        return FunctionalRuntime(model, data, **kwargs)
    except ConfigError:
        return None
