"""The reference trainer: any ``nn.Module``, one client after another, with plain tensor SGD.

:class:`SequentialRuntime` is the definition the batched runtimes are tested against, and the trainer
of the real device agent (one client: the device itself), so a device and a simulated client given the
same plan, data and seed return the same parameters. It uses no ``torch.optim`` and no ``torch.func``
(whose first use imports ``torch._dynamo``, over a second): the step is
:func:`tandem.federated.client.sgd_update` on the module's own parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.data.clients import ClientData
from tandem.federated.client import Stacked, sgd_update
from tandem.federated.client_runtime import ClientRuntime, Trained, TrainJob

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(outputs, targets)``: the mean loss of a batch (``F.cross_entropy`` by default)."""


class SequentialRuntime(ClientRuntime):
    """Any ``nn.Module``, one client after another (the reference semantics of every runtime).

    The module's ``state_dict`` keys are the federated parameters (buffers travel but are not trained);
    the loss of a step is ``loss_fn(model(x), y)`` on the step's batch.
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        *,
        seed: int = 0,
        max_clients: int = 1024,
        loss_fn: LossFn = F.cross_entropy,
    ) -> None:
        super().__init__(model, data, seed=seed, max_clients=max_clients)
        self.work = copy.deepcopy(model)
        self.loss_fn = loss_fn
        self._n_params = sum(p.numel() for p in model.parameters())

    @property
    def flops_per_example(self) -> float:
        # 2 FLOPs per parameter forward, twice that backward: exact for MLPs, an estimate otherwise
        return 6.0 * self._n_params

    def _load(self, params: Stacked, k: int) -> None:
        self.work.load_state_dict({key: v[k] for key, v in params.items()})

    def _logits(self, params: Stacked, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        self.work.eval()
        outs = []
        for k in range(idx.shape[0]):
            self._load(params, k)
            outs.append(self.work(x[torch.from_numpy(idx[k])]))
        return torch.stack(outs)

    def _train_one(
        self, start: Stacked, k: int, job: TrainJob, mu: float, correction: Stacked | None
    ) -> tuple[dict[str, torch.Tensor], float]:
        """Client ``k`` of ``job`` from ``start[k]``: its trained state and mean training loss."""
        self._load(start, k)
        self.work.train()
        named = dict(self.work.named_parameters())
        corr = {key: v[k] for key, v in correction.items()} if correction is not None else None
        X, y = job.view.X, job.view.y
        n_steps = int(job.steps.n_steps[k])
        total = 0.0
        for s in range(n_steps):
            idx = torch.from_numpy(job.steps.batch(s, k))
            loss = self.loss_fn(self.work(X[idx]), y[idx])
            grads = torch.autograd.grad(loss, list(named.values()))
            total += float(loss.detach())
            with torch.no_grad():
                new = sgd_update(
                    named, dict(zip(named, grads, strict=True)), job.anchor, job.objective.lr,
                    mu=mu, correction=corr,
                )
                for key, p in named.items():
                    p.copy_(new[key])
        state = {key: v.detach().clone() for key, v in self.work.state_dict().items()}
        return state, total / max(n_steps, 1)

    def _train(self, job: TrainJob) -> Trained:
        obj = job.objective
        K = len(job.ids)
        trained, losses, personal, personal_losses = [], np.zeros(K), [], np.zeros(K)
        with torch.enable_grad():
            for k in range(K):
                state, losses[k] = self._train_one(job.init, k, job, obj.prox_mu, job.correction)
                trained.append(state)
                if job.personal_init is not None:
                    state, personal_losses[k] = self._train_one(job.personal_init, k, job, obj.ditto_lambda, None)
                    personal.append(state)

        def stack(states: list[dict[str, torch.Tensor]]) -> Stacked:
            return {key: torch.stack([s[key] for s in states]) for key in self.keys}

        if job.personal_init is None:
            return Trained(stack(trained), None, losses, None)
        return Trained(stack(trained), stack(personal), losses, personal_losses)
