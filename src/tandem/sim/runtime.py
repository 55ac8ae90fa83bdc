"""Client runtimes: train the clients of a round as a :class:`~tandem.federated.strategy.RoundPlan` says.

Two runtimes, one semantics (the ``LocalObjective`` contract of :mod:`tandem.federated.strategy`):

* :class:`BatchedRuntime` trains every client of a round together: per-client parameters are stacked
  into ``[K, ...]`` tensors, a Linear layer is one ``baddbmm`` over all clients, per-client minibatches
  are padded to the batch size and masked, and one autograd pass per step gives every client's gradient.
  Supports the modules :class:`~tandem.sim.stacked.StackedMLP` accepts (MLPs).
* :class:`SequentialRuntime` trains any ``nn.Module``, one client after another.

Both use plain tensor SGD (no ``torch.optim``, no ``torch.func``: their first use imports
``torch._dynamo``, over a second here) and the same data order, so they agree to float rounding.

Local training of client ``c`` in round ``r`` (the peer workload's protocol, ``shared/peers/workload.json``):
``rng = numpy.random.default_rng([seed, r, c])``; each epoch visits the client's rows in the order
``rng.permutation(n_c)`` in minibatches of ``batch_size`` (last partial batch kept); the loss of a
step is the mean cross-entropy over its batch, plus ``prox_mu/2 ||w - w_global||^2``; the step is
``w <- w - lr * (grad + c - c_i)`` (the control-variate term only for SCAFFOLD). A client with no
examples returns the global parameters with ``n_examples = 0`` and keeps no state.

Per-client persistent state (SCAFFOLD's ``c_i``, FedPer's personal layers, Ditto's personal model)
lives in :class:`ClientStates` and exists only for clients that have trained, so memory grows with
the clients that took part, never with the population; strategies without such state keep nothing.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.federated.strategy import ClientResult, LocalObjective, Params, RoundPlan
from tandem.sim.clientdata import ClientData, RoundView
from tandem.sim.stacked import StackedMLP

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


# ------------------------------------------------------------------------------------- persistent states
class ClientStates:
    """Per-client persistent tensors by slot (``"c_i"``, ``"personal"``, ``"ditto"``), only for clients seen."""

    def __init__(self) -> None:
        self.slots: dict[str, dict[int, dict[str, torch.Tensor]]] = {}

    def get(self, slot: str, client_id: int) -> dict[str, torch.Tensor] | None:
        return self.slots.get(slot, {}).get(int(client_id))

    def put(self, slot: str, client_id: int, state: Mapping[str, torch.Tensor]) -> None:
        # clone: a row of a round's stacked tensor must not keep the whole stack alive
        self.slots.setdefault(slot, {})[int(client_id)] = {k: v.detach().clone() for k, v in state.items()}

    def gather(
        self, slot: str, ids: Sequence[int], keys: Sequence[str], default: Mapping[str, torch.Tensor]
    ) -> Stacked:
        """``{key: [K, ...]}`` of the clients' stored values, ``default[key]`` for clients without one."""
        store = self.slots.get(slot, {})
        out = {}
        for key in keys:
            base = default[key]
            out[key] = torch.stack([store[c][key] if c in store else base for c in map(int, ids)])
        return out

    def n_clients(self) -> int:
        """Clients that have any stored state."""
        return len(set().union(*(s.keys() for s in self.slots.values()))) if self.slots else 0

    def state_dict(self) -> dict[str, Any]:
        return {slot: {c: dict(v) for c, v in per.items()} for slot, per in self.slots.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.slots = {slot: {int(c): dict(v) for c, v in per.items()} for slot, per in state.items()}


# ------------------------------------------------------------------------------------------------ runtime
class Runtime(Protocol):
    """What the engine needs from a client runtime (local or :class:`~tandem.sim.ray_backend.RayRuntime`)."""

    @property
    def flops_per_example(self) -> float: ...

    def fit(self, plan: RoundPlan, client_ids: Sequence[int]) -> list[ClientResult]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class _Job:
    """Everything one chunk of clients needs to train (built by the base class, used by both runtimes)."""

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
class _Trained:
    params: Stacked
    personal: Stacked | None
    train_loss: np.ndarray
    personal_train_loss: np.ndarray | None


class ClientRuntime(ABC):
    """Trains the clients of a round (see the module docstring for the semantics both subclasses share).

    Parameters
    ----------
    model:
        The architecture (its parameter values are not used: every round starts from the plan's params).
    data:
        The client population (:class:`~tandem.sim.clientdata.ClientData`).
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

    def fit(self, plan: RoundPlan, client_ids: Sequence[int]) -> list[ClientResult]:
        """Train ``client_ids`` from ``plan``; one :class:`ClientResult` per client, in the order given."""
        _check_objective(plan.objective)
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
        for k in np.flatnonzero(sizes == 0):
            extra = {"delta_c": {key: torch.zeros_like(v) for key, v in cv.items()}} if cv is not None else {}
            results[k] = ClientResult(int(ids[k]), 0, {key: plan.params[key] for key in shared}, extra=extra)
        busy = np.flatnonzero(sizes > 0)
        if len(busy):
            job = self._job(plan, ids[busy], sizes[busy], cv)
            for k, result in zip(busy, self._finish(job, self._train(job), shared, cv), strict=True):
                results[k] = result
        return (results[k] for k in range(len(ids)))

    def _job(self, plan: RoundPlan, ids: np.ndarray, sizes: np.ndarray, cv: Params | None) -> _Job:
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
        return _Job(ids, sizes, view, steps, init, personal_init, anchor, c_i, correction, obj)

    def _finish(self, job: _Job, out: _Trained, shared: list[str], cv: Params | None) -> list[ClientResult]:
        obj = job.objective
        ids = job.ids
        extra_stacked: Stacked | None = None
        if cv is not None and job.c_i is not None:
            # SCAFFOLD option II: c_i+ = c_i - c + (x - y_i) / (K_i * lr); delta_c = c_i+ - c_i
            denom = torch.as_tensor(job.steps.n_steps * obj.lr, dtype=torch.float32)
            extra_stacked, c_new = {}, {}
            for key, c in cv.items():
                c_i = job.c_i[key]
                step = (job.anchor[key].unsqueeze(0) - out.params[key]) / denom.view(-1, *([1] * c.dim()))
                c_new[key] = c_i - c.unsqueeze(0) + step
                extra_stacked[key] = c_new[key] - c_i
            for k, c in enumerate(ids):
                self.states.put("c_i", int(c), {key: v[k] for key, v in c_new.items()})
        loss_before = None
        if obj.report_loss:
            loss_before = self._mean_loss(job.init, job.view)
        if obj.personal_keys:
            for k, c in enumerate(ids):
                self.states.put("personal", int(c), {key: out.params[key][k] for key in obj.personal_keys})
        if out.personal is not None:
            for k, c in enumerate(ids):
                self.states.put("ditto", int(c), {key: out.personal[key][k] for key in self.keys})
        local_acc = None
        eval_view = self.data.local_eval_view(ids) if (obj.personal_keys or out.personal is not None) else None
        if eval_view is not None:
            kept = out.personal if out.personal is not None else out.params
            local_acc = self._accuracy(kept, eval_view)
        rows = {key: out.params[key].unbind(0) for key in shared}
        delta_rows = {key: v.unbind(0) for key, v in extra_stacked.items()} if extra_stacked else None
        train_loss = out.train_loss.tolist()
        results = []
        for k, c in enumerate(ids.tolist()):
            metrics = {"train_loss": train_loss[k]}
            if out.personal_train_loss is not None:
                metrics["personal_train_loss"] = float(out.personal_train_loss[k])
            if local_acc is not None and len(eval_view.rows[k]):
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
        """Each client's mean cross-entropy over all its rows."""
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
    def _train(self, job: _Job) -> _Trained:
        """Run the local SGD of ``job`` (module docstring) and return the trained stacked parameters."""

    @abstractmethod
    def _logits(self, params: Stacked, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """Outputs ``[K, L, classes]`` of the K models on rows ``x[idx[k]]`` (no grad)."""

    # -- checkpointing -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Per-client persistent states (for checkpoints)."""
        return {"clients": self.states.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.states.load_state_dict(state.get("clients", {}))


def _check_objective(obj: LocalObjective) -> None:
    if not (obj.lr > 0 and obj.epochs >= 1 and obj.batch_size >= 1):
        raise ConfigError(
            f"LocalObjective needs lr > 0, epochs >= 1 and batch_size >= 1; got lr={obj.lr}, "
            f"epochs={obj.epochs}, batch_size={obj.batch_size}"
        )
    if obj.prox_mu < 0 or obj.ditto_lambda < 0:
        raise ConfigError(
            f"LocalObjective: prox_mu and ditto_lambda must be >= 0, got {obj.prox_mu}, {obj.ditto_lambda}"
        )


def _bcast(vec: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return vec.view(-1, *([1] * (like.dim() - 1)))


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

    def _train(self, job: _Job) -> _Trained:
        obj = job.objective
        K = len(job.ids)
        two = job.personal_init is not None
        M = 2 * K if two else K
        # fresh leaves, updated in place (job.init stays the received model, for loss_before)
        params = {
            k: (torch.cat([job.init[k], job.personal_init[k]]) if two else job.init[k].clone()).requires_grad_(True)
            for k in self.keys
        }
        leaves = [params[k] for k in self.keys]
        mu = None
        if two:
            mu = torch.cat([torch.full((K,), float(obj.prox_mu)), torch.full((K,), float(obj.ditto_lambda))])
        elif obj.prox_mu > 0:
            mu = torch.full((K,), float(obj.prox_mu))
        correction = job.correction
        if correction is not None and two:
            correction = {k: torch.cat([v, torch.zeros_like(v)]) for k, v in correction.items()}
        steps = job.steps
        rows, weight, active = steps.rows, steps.weight, steps.active
        if two:
            rows, weight, active = (np.concatenate([a, a], axis=1) for a in (rows, weight, active))
        rows_t = torch.from_numpy(rows)
        xs, ys = job.view.X[rows_t], job.view.y[rows_t]
        weight_t = torch.from_numpy(weight)
        active_t = torch.from_numpy(active.astype(np.float32))
        # an inactive client's batch has weight 0, so its gradient is exactly 0: masking is only
        # needed when a proximal or control-variate term adds to it
        needs_mask = mu is not None or correction is not None
        losses = []
        lr = float(obj.lr)
        with torch.enable_grad():
            for s in range(rows.shape[0]):
                out = self.spec.forward(params, xs[s])
                ce = F.cross_entropy(out.reshape(-1, out.shape[-1]), ys[s].reshape(-1), reduction="none")
                per_client = (ce.view(weight_t[s].shape) * weight_t[s]).sum(1)
                grads = torch.autograd.grad(per_client.sum(), leaves)
                losses.append(per_client.detach())
                mask = active_t[s] if needs_mask and not active[s].all() else None
                with torch.no_grad():
                    for key, p, g in zip(self.keys, leaves, grads, strict=True):
                        if mu is not None:
                            g = g + _bcast(mu, p) * (p - job.anchor[key])
                        if correction is not None and key in correction:
                            g = g + correction[key]
                        if mask is not None:
                            g = g * _bcast(mask, g)
                        p.add_(g, alpha=-lr)
        params = {k: v.detach() for k, v in params.items()}
        loss_sum = torch.stack(losses).sum(0).to(torch.float64) if losses else torch.zeros(M, dtype=torch.float64)
        n_steps = np.concatenate([steps.n_steps, steps.n_steps]) if two else steps.n_steps
        mean_loss = loss_sum.numpy() / np.maximum(n_steps, 1)
        if two:
            return _Trained(
                {k: v[:K] for k, v in params.items()}, {k: v[K:] for k, v in params.items()},
                mean_loss[:K], mean_loss[K:],
            )
        return _Trained(params, None, mean_loss, None)


class SequentialRuntime(ClientRuntime):
    """Any ``nn.Module``, one client after another, with the same semantics as :class:`BatchedRuntime`.

    The module's ``state_dict`` keys are the federated parameters (buffers travel but are not trained);
    the loss is ``loss_fn(model(x), y)`` (mean cross-entropy by default).
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        *,
        seed: int = 0,
        max_clients: int = 1024,
        loss_fn: Any = F.cross_entropy,
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
        self, start: Stacked, k: int, job: _Job, mu: float, correction: Stacked | None
    ) -> tuple[dict[str, torch.Tensor], float]:
        self._load(start, k)
        self.work.train()
        named = dict(self.work.named_parameters())
        lr = float(job.objective.lr)
        X, y = job.view.X, job.view.y
        n_steps = int(job.steps.n_steps[k])
        total = 0.0
        for s in range(n_steps):
            valid = job.steps.weight[s, k] > 0
            idx = torch.from_numpy(job.steps.rows[s, k][valid])
            loss = self.loss_fn(self.work(X[idx]), y[idx])
            grads = torch.autograd.grad(loss, list(named.values()))
            total += float(loss.detach())
            with torch.no_grad():
                for (key, p), g in zip(named.items(), grads, strict=True):
                    if mu > 0:
                        g = g + mu * (p - job.anchor[key])
                    if correction is not None and key in correction:
                        g = g + correction[key][k]
                    p.add_(g, alpha=-lr)
        state = {key: v.detach().clone() for key, v in self.work.state_dict().items()}
        return state, total / max(n_steps, 1)

    def _train(self, job: _Job) -> _Trained:
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
        stack = lambda states: {key: torch.stack([s[key] for s in states]) for key in self.keys}  # noqa: E731
        if job.personal_init is None:
            return _Trained(stack(trained), None, losses, None)
        return _Trained(stack(trained), stack(personal), losses, personal_losses)


def make_runtime(
    kind: str, model: nn.Module, data: ClientData, *, seed: int = 0, max_clients: int = 1024, **kwargs: Any
) -> Runtime:
    """``"batched"``, ``"sequential"``, ``"auto"`` (batched when the model is stackable, else sequential) or
    ``"ray"`` (:class:`~tandem.sim.ray_backend.RayRuntime`; ``kwargs`` go to the runtime)."""
    if kind == "auto":
        kind = "batched" if StackedMLP.from_module(model) is not None else "sequential"
    if kind == "batched":
        return BatchedRuntime(model, data, seed=seed, max_clients=max_clients)
    if kind == "sequential":
        return SequentialRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
    if kind == "ray":
        from tandem.sim.ray_backend import RayRuntime

        return RayRuntime(model, data, seed=seed, max_clients=max_clients, **kwargs)
    raise ConfigError(f"unknown runtime {kind!r}; choose batched, sequential, auto or ray")
