"""The Ray backend: the clients of a round sharded over Ray actors, each running a local client runtime.

Install with ``pip install 'tandem-ml[ray]'``. Client ``c`` always goes to actor ``c % n_workers``, so
its persistent state (SCAFFOLD ``c_i``, personal layers, Ditto model) stays in one actor across rounds;
each actor trains its share with :class:`~tandem.sim.runtime.BatchedRuntime` (or the sequential runtime
for models it cannot stack). A client's computation does not depend on which other clients share its
batch, so results equal the local runtime's. Pass ``address`` to join an existing cluster; otherwise a
local one with ``num_cpus`` CPUs is started (and shut down by :meth:`RayRuntime.shutdown`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.federated.strategy import ClientResult, RoundPlan
from tandem.sim.runtime import make_runtime


def _own(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, Mapping):
        return {k: _own(v) for k, v in value.items()}
    return value


def _compact(result: ClientResult) -> ClientResult:
    """The result with tensors that own their memory: a view into a round's stacked tensor would
    otherwise pickle the whole stack, once per client."""
    return dataclasses.replace(result, params=_own(result.params), extra=_own(result.extra))


class _Worker:
    """One actor: a local runtime over the same population."""

    def __init__(self, model: nn.Module, data: ClientData, seed: int, max_clients: int, kind: str) -> None:
        self.runtime = make_runtime(kind, model, data, seed=seed, max_clients=max_clients)

    def fit(self, plan: RoundPlan, client_ids: np.ndarray) -> list[ClientResult]:
        return [_compact(r) for r in self.runtime.fit(plan, client_ids)]

    def state_dict(self) -> dict[str, Any]:
        return self.runtime.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.runtime.load_state_dict(state)


class RayRuntime:
    """Client runtime that shards each round's clients over ``n_workers`` Ray actors.

    Parameters
    ----------
    model, data, seed, max_clients:
        As for :class:`~tandem.federated.client_runtime.ClientRuntime` (shipped to every actor once).
    n_workers:
        Number of actors (one CPU each).
    kind:
        Runtime inside each actor: ``"auto"``, ``"batched"``, ``"functional"`` or ``"sequential"``.
    address:
        Ray cluster address to join (``"auto"`` or ``"ray://host:port"``); ``None`` starts a local cluster.
    num_cpus:
        CPUs of a locally started cluster (default ``n_workers``).
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        *,
        seed: int = 0,
        max_clients: int = 1024,
        n_workers: int = 2,
        kind: str = "auto",
        address: str | None = None,
        num_cpus: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the Ray backend needs ray: pip install 'tandem-ml[ray]'") from None
        if n_workers < 1:
            raise ConfigError(f"RayRuntime: n_workers must be >= 1, got {n_workers}")
        if kind not in ("auto", "batched", "functional", "vmap", "sequential"):
            raise ConfigError(f"RayRuntime: kind must be auto, batched, functional or sequential, got {kind!r}")
        self._ray = ray
        self._owns_cluster = False
        if not ray.is_initialized():
            ray.init(
                address=address,
                num_cpus=None if address else (num_cpus or n_workers),
                include_dashboard=False,
                log_to_driver=False,
            )
            self._owns_cluster = True
        self.n_workers = int(n_workers)
        local = make_runtime(kind, model, data, seed=seed, max_clients=max_clients)
        self.flops_per_example = local.flops_per_example
        worker_cls = ray.remote(num_cpus=1)(_Worker)
        model_ref, data_ref = ray.put(model), ray.put(data)
        self.workers = [worker_cls.remote(model_ref, data_ref, seed, max_clients, kind) for _ in range(n_workers)]

    def _owner(self, client_ids: np.ndarray) -> np.ndarray:
        return np.asarray(client_ids, dtype=np.int64) % self.n_workers

    def fit(self, plan: RoundPlan, client_ids: Sequence[int] | np.ndarray) -> list[ClientResult]:
        """Train ``client_ids`` on the actors; results in the order given."""
        ids = np.asarray(client_ids, dtype=np.int64).reshape(-1)
        owner = self._owner(ids)
        plan_ref = self._ray.put(plan)
        shards = [np.flatnonzero(owner == w) for w in range(self.n_workers)]
        refs = [w.fit.remote(plan_ref, ids[s]) for w, s in zip(self.workers, shards, strict=True) if len(s)]
        replies = iter(self._ray.get(refs))
        out: list[ClientResult | None] = [None] * len(ids)
        for shard in shards:
            if len(shard):
                for position, result in zip(shard, next(replies), strict=True):
                    out[position] = result
        return out  # type: ignore[return-value]

    def state_dict(self) -> dict[str, Any]:
        """Every actor's per-client states, merged (client ids are disjoint across actors)."""
        merged: dict[str, dict[int, Any]] = {}
        for state in self._ray.get([w.state_dict.remote() for w in self.workers]):
            for slot, per_client in state.get("clients", {}).items():
                merged.setdefault(slot, {}).update(per_client)
        return {"clients": merged}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Give each actor the states of the clients it owns."""
        slots = state.get("clients", {})
        refs = []
        for w, worker in enumerate(self.workers):
            mine = {
                slot: {c: v for c, v in per_client.items() if int(c) % self.n_workers == w}
                for slot, per_client in slots.items()
            }
            refs.append(worker.load_state_dict.remote({"clients": mine}))
        self._ray.get(refs)

    def shutdown(self) -> None:
        """Stop the actors (and the local cluster if this runtime started it)."""
        for worker in self.workers:
            self._ray.kill(worker)
        self.workers = []
        if self._owns_cluster:
            self._ray.shutdown()
