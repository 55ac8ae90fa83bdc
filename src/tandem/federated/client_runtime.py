"""The bookkeeping every client runtime shares: from a round plan to one :class:`ClientResult` per client.

:class:`ClientRuntime` looks up the clients' data, plans their minibatches (:mod:`tandem.federated.client`),
gathers their persistent states (:class:`~tandem.federated.client_state.ClientStates`), hands one
:class:`TrainJob` per chunk of clients to a subclass's ``_train`` and turns the trained ``[K, ...]``
stacks back into results: SCAFFOLD's ``delta_c``, FedPer's kept layers, Ditto's personal model, q-FedAvg's
``loss_before``, local accuracy of personal models. Subclasses differ only in how they run the same SGD
step over K clients: one at a time (:class:`~tandem.federated.client_trainer.SequentialRuntime`, the
reference), or batched (the simulator's runtimes in :mod:`tandem.sim`).

A client with no examples returns the global parameters with ``n_examples = 0`` and keeps no state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData, RoundView
from tandem.federated.client import Stacked, StepPlan, check_objective, local_order, plan_steps, scaffold_update
from tandem.federated.client_state import ClientStates
from tandem.federated.strategy import ClientResult, LocalObjective, Params, RoundPlan


class Runtime(Protocol):
    """What a round loop needs from a client runtime (local, batched, or Ray's ``RayRuntime``)."""

    @property
    def flops_per_example(self) -> float: ...

    def fit(self, plan: RoundPlan, client_ids: Sequence[int] | np.ndarray) -> list[ClientResult]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class TrainJob:
    """Everything one chunk of K clients needs to train (built by :class:`ClientRuntime`, read by ``_train``).

    ``init`` are the K starting models (global, with FedPer's personal layers filled in), ``personal_init``
    Ditto's K personal models, ``anchor`` the received global parameters, ``correction`` SCAFFOLD's
    ``c - c_i`` per client.
    """

    ids: np.ndarray
    sizes: np.ndarray
    view: RoundView
    steps: StepPlan
    init: Stacked
    personal_init: Stacked | None
    anchor: Params
    c_i: Stacked | None
    correction: Stacked | None
    objective: LocalObjective


@dataclass
class Trained:
    """What ``_train`` returns: trained ``[K, ...]`` stacks and each client's mean training loss."""

    params: Stacked
    personal: Stacked | None
    train_loss: np.ndarray
    personal_train_loss: np.ndarray | None


@dataclass
class Joint:
    """The models a batched runtime trains for one job: the K client models, then Ditto's K personal models.

    ``start`` holds fresh ``[M, ...]`` copies (M = K, or 2K with Ditto) to train; ``mu`` the proximal
    weight of each (``prox_mu`` for client models, ``ditto_lambda`` for personal ones; ``None`` when all
    are 0); ``correction`` SCAFFOLD's ``c - c_i`` (zero for personal models); ``steps`` the minibatch
    plan of the M models (a personal model visits its client's batches).
    """

    start: Stacked
    mu: torch.Tensor | None
    correction: Stacked | None
    steps: StepPlan
    n_clients: int

    @classmethod
    def of(cls, job: TrainJob, keys: Sequence[str]) -> Joint:
        obj, K = job.objective, len(job.ids)
        if job.personal_init is None:
            start = {k: job.init[k].clone() for k in keys}
            mu = torch.full((K,), float(obj.prox_mu)) if obj.prox_mu > 0 else None
            return cls(start, mu, job.correction, job.steps, K)
        personal = job.personal_init
        start = {k: torch.cat([job.init[k], personal[k]]) for k in keys}
        mu = torch.cat([torch.full((K,), float(obj.prox_mu)), torch.full((K,), float(obj.ditto_lambda))])
        correction = None
        if job.correction is not None:
            correction = {k: torch.cat([v, torch.zeros_like(v)]) for k, v in job.correction.items()}
        return cls(start, mu, correction, job.steps.doubled(), K)

    def trained(self, params: Stacked, loss_sum: np.ndarray) -> Trained:
        """Split the M trained models back into client and personal ones; mean loss per step taken."""
        mean_loss = np.asarray(loss_sum, dtype=np.float64) / np.maximum(self.steps.n_steps, 1)
        K = self.n_clients
        if len(mean_loss) == K:
            return Trained(params, None, mean_loss, None)
        return Trained(
            {k: v[:K] for k, v in params.items()}, {k: v[K:] for k, v in params.items()}, mean_loss[:K], mean_loss[K:]
        )


@dataclass
class ActivePrefix:
    """A batched job's M models reordered by how many steps they take, most first.

    At step ``s`` exactly the first ``counts[s]`` models (in this order) still have a step to take, so a
    batched runtime computes step ``s`` on the prefix ``[:counts[s]]`` of its stacks only: clients that
    finished are not padded along (with uneven client sizes the padding used to dominate), and a model
    that is not computed cannot move, which is what the reference's skipped step does. ``rows``/``weight``
    are the step plan's, columns in this order.
    """

    order: np.ndarray
    counts: np.ndarray
    rows: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, steps: StepPlan) -> ActivePrefix:
        order = np.argsort(-steps.n_steps, kind="stable")
        S = steps.rows.shape[0]
        counts = (steps.n_steps[None, :] > np.arange(S)[:, None]).sum(1)
        return cls(order, counts, steps.rows[:, order], steps.weight[:, order])

    def sort(self, stacked: Stacked) -> Stacked:
        """Fresh ``[M, ...]`` copies of ``stacked`` in prefix order."""
        index = torch.from_numpy(self.order)
        return {k: v.index_select(0, index) for k, v in stacked.items()}

    def unsort(self, stacked: Stacked) -> Stacked:
        """Back to the job's order."""
        index = torch.from_numpy(np.argsort(self.order, kind="stable"))
        return {k: v.index_select(0, index) for k, v in stacked.items()}

    def unsort_array(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


class ClientRuntime(ABC):
    """Trains the clients of a round with the semantics of :mod:`tandem.federated.client`.

    Parameters
    ----------
    model:
        The architecture (its parameter values are not used: every round starts from the plan's params).
    data:
        The client population (:class:`~tandem.data.clients.ClientData`).
    seed:
        Seed of the local data order, ``default_rng([seed, round, client])``.
    max_clients:
        Clients trained together at most (bounds memory; larger rounds go in chunks of clients of similar
        size); results do not depend on it.
    """

    def __init__(self, model: nn.Module, data: ClientData, *, seed: int = 0, max_clients: int = 1024) -> None:
        if max_clients < 1:
            raise ConfigError(f"{type(self).__name__}: max_clients must be >= 1, got {max_clients}")
        self.model = model
        self.data = data
        self.seed = int(seed)
        self.max_clients = int(max_clients)
        self.keys = tuple(model.state_dict().keys())
        self.states = ClientStates()

    @property
    @abstractmethod
    def flops_per_example(self) -> float:
        """Training FLOPs per example per epoch (forward + backward), for device compute time."""

    def fit(self, plan: RoundPlan, client_ids: Sequence[int] | np.ndarray) -> list[ClientResult]:
        """Train ``client_ids`` from ``plan``; one :class:`ClientResult` per client, in the order given."""
        check_objective(plan.objective)
        ids = np.asarray(client_ids, dtype=np.int64).reshape(-1)
        missing = [k for k in self.keys if k not in plan.params]
        if missing:
            raise ConfigError(f"{type(self).__name__}: round plan lacks parameters {missing}")
        # chunks of clients with similar sizes take similar numbers of steps, so little is padded; a
        # client's result does not depend on which chunk it lands in
        order = np.argsort(self.data.sizes(ids), kind="stable") if len(ids) > self.max_clients else np.arange(len(ids))
        results: list[ClientResult | None] = [None] * len(ids)
        for start in range(0, len(ids), self.max_clients):
            chunk = order[start : start + self.max_clients]
            for position, result in zip(chunk, self._fit_chunk(plan, ids[chunk]), strict=True):
                results[position] = result
        return results  # type: ignore[return-value]

    # -- shared bookkeeping ------------------------------------------------------------------------------
    def _fit_chunk(self, plan: RoundPlan, ids: np.ndarray) -> Iterator[ClientResult]:
        obj = plan.objective
        sizes = self.data.sizes(ids)
        shared = [k for k in self.keys if k not in obj.personal_keys]
        cv = plan.server_state.get("c") if obj.control_variates else None
        if obj.control_variates and cv is None:
            raise ConfigError("control_variates is set but the round plan has no server_state['c']")
        results: dict[int, ClientResult] = {}
        for k in np.flatnonzero(sizes == 0).tolist():
            extra = {"delta_c": {key: torch.zeros_like(v) for key, v in cv.items()}} if cv is not None else {}
            results[k] = ClientResult(int(ids[k]), 0, {key: plan.params[key] for key in shared}, extra=extra)
        busy = np.flatnonzero(sizes > 0)
        if len(busy):
            job = self._job(plan, ids[busy], sizes[busy], cv)
            for k, result in zip(busy.tolist(), self._finish(job, self._train(job), shared, cv), strict=True):
                results[k] = result
        return (results[k] for k in range(len(ids)))

    def _job(self, plan: RoundPlan, ids: np.ndarray, sizes: np.ndarray, cv: Params | None) -> TrainJob:
        obj = plan.objective
        view = self.data.round_view(ids)
        orders = [
            view.rows[k][local_order(self.seed, plan.round, int(c), int(n), obj.epochs)]
            for k, (c, n) in enumerate(zip(ids, sizes, strict=True))
        ]
        steps = plan_steps(orders, sizes, obj.batch_size, obj.epochs)
        anchor = {k: plan.params[k].detach() for k in self.keys}
        K = len(ids)
        init = {k: v.unsqueeze(0).expand(K, *v.shape) for k, v in anchor.items()}  # views; _train copies
        if obj.personal_keys:
            init.update(self.states.gather("personal", ids, obj.personal_keys, anchor))
        personal_init = self.states.gather("ditto", ids, self.keys, anchor) if obj.ditto_lambda > 0 else None
        c_i = correction = None
        if cv is not None:
            c_i = self.states.gather("c_i", ids, list(cv), {k: torch.zeros_like(v) for k, v in cv.items()})
            correction = {k: cv[k].unsqueeze(0) - c_i[k] for k in cv}
        return TrainJob(ids, sizes, view, steps, init, personal_init, anchor, c_i, correction, obj)

    def _finish(self, job: TrainJob, out: Trained, shared: list[str], cv: Params | None) -> list[ClientResult]:
        obj = job.objective
        ids = job.ids
        delta_rows: dict[str, tuple[torch.Tensor, ...]] | None = None
        if cv is not None and job.c_i is not None:
            c_new, delta = scaffold_update(job.c_i, cv, job.anchor, out.params, job.steps.n_steps, obj.lr)
            self.states.put_rows("c_i", ids.tolist(), c_new)
            delta_rows = {key: v.unbind(0) for key, v in delta.items()}
        loss_before = self._mean_loss(job.init, job.view) if obj.report_loss else None
        if obj.personal_keys:
            self.states.put_rows("personal", ids.tolist(), {key: out.params[key] for key in obj.personal_keys})
        if out.personal is not None:
            self.states.put_rows("ditto", ids.tolist(), out.personal)
        local_acc = None
        eval_view = self.data.local_eval_view(ids) if (obj.personal_keys or out.personal is not None) else None
        if eval_view is not None:
            local_acc = self._accuracy(out.personal if out.personal is not None else out.params, eval_view)
        rows = {key: out.params[key].unbind(0) for key in shared}
        train_loss = out.train_loss.tolist()
        results = []
        for k, c in enumerate(ids.tolist()):
            metrics = {"train_loss": train_loss[k]}
            if out.personal_train_loss is not None:
                metrics["personal_train_loss"] = float(out.personal_train_loss[k])
            if local_acc is not None and eval_view is not None and len(eval_view.rows[k]):
                metrics["local_accuracy"] = float(local_acc[k])
                metrics["n_local_eval"] = float(len(eval_view.rows[k]))
            extra = {"delta_c": {key: v[k] for key, v in delta_rows.items()}} if delta_rows else {}
            results.append(
                ClientResult(
                    client_id=c,
                    n_examples=int(job.sizes[k]),
                    params={key: v[k] for key, v in rows.items()},
                    loss_before=None if loss_before is None else float(loss_before[k]),
                    metrics=metrics,
                    extra=extra,
                )
            )
        return results

    @staticmethod
    def _padded(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Row ids ``[K, L]`` (0-padded) and a validity mask for per-client evaluation passes."""
        L = max((len(r) for r in rows), default=0)
        idx = np.zeros((len(rows), max(L, 1)), dtype=np.int64)
        mask = np.zeros(idx.shape, dtype=bool)
        for k, r in enumerate(rows):
            idx[k, : len(r)] = r
            mask[k, : len(r)] = True
        return idx, mask

    @torch.no_grad()
    def _mean_loss(self, params: Stacked, view: RoundView) -> np.ndarray:
        """Each client's mean cross-entropy over all its rows (q-FedAvg's ``loss_before``)."""
        idx, mask = self._padded(view.rows)
        logits = self._logits(params, view.X, idx)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), view.y[idx].reshape(-1), reduction="none")
        m = torch.from_numpy(mask)
        per = (ce.view(idx.shape) * m).sum(1) / m.sum(1).clamp_min(1)
        return per.numpy()

    @torch.no_grad()
    def _accuracy(self, params: Stacked, view: RoundView) -> np.ndarray:
        """Each client's accuracy over all its rows."""
        idx, mask = self._padded(view.rows)
        pred = self._logits(params, view.X, idx).argmax(-1)
        m = torch.from_numpy(mask)
        hits = ((pred == view.y[idx]) & m).sum(1).to(torch.float64)
        return (hits / m.sum(1).clamp_min(1)).numpy()

    # -- what subclasses provide -------------------------------------------------------------------------
    @abstractmethod
    def _train(self, job: TrainJob) -> Trained:
        """Run the local SGD of ``job`` (:mod:`tandem.federated.client`) and return the trained stacks."""

    @abstractmethod
    def _logits(self, params: Stacked, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """Outputs ``[K, L, classes]`` of the K models on rows ``x[idx[k]]`` (no grad)."""

    # -- checkpointing -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Per-client persistent states (for checkpoints)."""
        return {"clients": self.states.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.states.load_state_dict(state.get("clients", {}))
