"""The Ray backend: the clients of a round sharded over warm Ray actors, each batching its share locally.

Install with ``pip install 'tandem-ml[ray]'``. What crosses process (or machine) boundaries is kept to
what a round needs:

* the model and the client data go to the actors once, at construction: a
  :class:`~tandem.data.clients.PartitionedData` is split so that each actor receives only the rows of the
  clients it owns (:class:`ShardedData`); a population that generates its clients from their ids
  (:class:`~tandem.data.clients.SyntheticClients`) goes whole, it is a few arrays. The actors then stay up
  for the whole run, warm: the constructor waits until every one has built its runtime, so the rounds
  pay no start-up;
* each round the plan is put in the object store once and every actor reads it once, with only its
  client ids;
* each actor trains its share with the same runtime the in-process simulator uses
  (:func:`~tandem.sim.runtime.make_runtime`, ``"auto"``: :class:`~tandem.sim.runtime.BatchedRuntime` for
  MLPs) and sends its results back packed (:class:`Packed`): one ``[K, ...]`` array per parameter
  (and per ``extra`` tensor such as SCAFFOLD's ``delta_c``) instead of K small tensors, which Ray would
  serialize one by one.

Client ``c`` always goes to actor ``c % n_workers``, so its persistent state (SCAFFOLD ``c_i``, FedPer's
personal layers, Ditto's model) stays in one actor across rounds. A client's training does not depend on
which other clients share its batch, so results equal the in-process runtime's (tests/sim/test_ray_backend.py:
bit for bit; q-FedAvg within 1e-6, its ``loss_before`` pass over a differently padded batch may round
differently).

Pass ``address`` to join an existing cluster (``"auto"`` on a cluster node, ``"ray://head:10001"`` from
outside, or ``"head:6379"``); otherwise a local one with ``num_cpus`` CPUs is started and shut down by
:meth:`RayRuntime.shutdown`. See docs/ray.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData, PartitionedData, RoundView
from tandem.federated.strategy import ClientResult, RoundPlan
from tandem.sim.runtime import make_runtime

log = logging.getLogger(__name__)

__all__ = ["Packed", "RayRuntime", "ShardedData", "pack_results", "shard_data", "unpack_results"]

KINDS = ("auto", "batched", "functional", "vmap", "sequential")
_NO_ROWS = np.zeros(0, dtype=np.int64)
Path = tuple[str, ...]


# -- packing results: K ClientResults <-> a few [K, ...] arrays ---------------------------------------------
@dataclass
class Packed:
    """One actor's results of a round, packed for the trip back (row ``k`` is client ``client_ids[k]``).

    ``params`` and ``extra`` hold one stacked ``[K, ...]`` array per tensor path (``extra`` paths are
    nested keys, e.g. ``("delta_c", "0.weight")``); numpy arrays travel through Ray's object store without
    per-tensor pickling. Results whose tensors cannot stack (different keys or shapes across clients, or a
    dtype numpy lacks) travel as they are in ``fallback``.
    """

    client_ids: np.ndarray
    n_examples: np.ndarray
    loss_before: list[float | None]
    metrics: list[dict[str, float]]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[Path, np.ndarray] = field(default_factory=dict)
    extra_plain: list[dict[str, Any]] | None = None
    fallback: list[ClientResult] | None = None


def _leaves(tree: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any] | None:
    """``{path: tensor}`` of a nested mapping whose leaves are all tensors, else ``None``."""
    out: dict[Path, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            return None
        if isinstance(value, Mapping):
            sub = _leaves(value, (*prefix, key))
            if sub is None:
                return None
            out.update(sub)
        elif isinstance(value, torch.Tensor):
            out[(*prefix, key)] = value
        else:
            return None
    return out


def _stack(rows: list[dict[Path, Any]]) -> dict[Path, np.ndarray] | None:
    """Stack the same-path, same-shape tensors of every row into numpy arrays, or ``None`` if they differ."""
    if not rows:
        return {}
    first = rows[0]
    if any(row.keys() != first.keys() for row in rows):
        return None
    out: dict[Path, np.ndarray] = {}
    for path, t0 in first.items():
        if not isinstance(t0, torch.Tensor) or t0.dtype in (torch.bfloat16, torch.complex32):  # not for numpy
            return None
        column: list[torch.Tensor] = [row[path] for row in rows]
        if any(not isinstance(t, torch.Tensor) or t.shape != t0.shape or t.dtype != t0.dtype for t in column):
            return None
        out[path] = torch.stack([t.detach() for t in column]).numpy()
    return out


def _own(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()  # a view into a round's stack would otherwise pickle the whole stack
    if isinstance(value, Mapping):
        return {k: _own(v) for k, v in value.items()}
    return value


def pack_results(results: Sequence[ClientResult]) -> Packed:
    """Pack ``results`` into :class:`Packed` (what an actor sends back)."""
    ids = np.array([r.client_id for r in results], dtype=np.int64)
    n = np.array([r.n_examples for r in results], dtype=np.int64)
    packed = Packed(ids, n, [r.loss_before for r in results], [dict(r.metrics) for r in results])
    params = _stack([{(k,): v for k, v in r.params.items()} for r in results])
    extra_leaves = [_leaves(r.extra) for r in results]
    extra = None if any(e is None for e in extra_leaves) else _stack(extra_leaves)  # type: ignore[arg-type]
    if params is None:
        packed.fallback = [
            ClientResult(r.client_id, r.n_examples, _own(r.params), r.loss_before, dict(r.metrics), _own(r.extra))
            for r in results
        ]
        return packed
    packed.params = {path[0]: v for path, v in params.items()}
    if extra is None:
        packed.extra_plain = [_own(r.extra) for r in results]
    else:
        packed.extra = extra
    return packed


def _nest(flat: Mapping[Path, torch.Tensor]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def unpack_results(packed: Packed) -> list[ClientResult]:
    """The :class:`ClientResult` list that :func:`pack_results` packed (tensors are rows of one stack)."""
    if packed.fallback is not None:
        return packed.fallback
    # copy out of Ray's read-only shared memory, once per array
    params = {k: torch.from_numpy(np.array(v)) for k, v in packed.params.items()}
    extra = {p: torch.from_numpy(np.array(v)) for p, v in packed.extra.items()}
    out = []
    for k, c in enumerate(packed.client_ids.tolist()):
        if packed.extra_plain is not None:
            extra_k = packed.extra_plain[k]
        else:
            extra_k = _nest({p: v[k] for p, v in extra.items()})
        out.append(
            ClientResult(
                client_id=c,
                n_examples=int(packed.n_examples[k]),
                params={key: v[k] for key, v in params.items()},
                loss_before=packed.loss_before[k],
                metrics=packed.metrics[k],
                extra=extra_k,
            )
        )
    return out


# -- shipping data: each actor gets the clients it owns -------------------------------------------------------
class ShardedData:
    """The clients of a :class:`~tandem.data.clients.PartitionedData` that one actor owns, with their rows only.

    Client ids stay global (``n_clients`` is the population's); a client the actor does not own has no
    examples here (:meth:`RayRuntime.fit` only ever sends an actor its own clients). Each actor so receives
    and holds about ``1/n_workers`` of the population's rows instead of all of them.
    """

    def __init__(self, data: PartitionedData, owned: np.ndarray) -> None:
        owned = np.asarray(owned, dtype=np.int64).reshape(-1)
        parts = {int(c): data.parts[int(c)] for c in owned}
        evals = None if data.eval_parts is None else {int(c): data.eval_parts[int(c)] for c in owned}
        used = np.unique(np.concatenate([_NO_ROWS, *parts.values(), *(evals or {}).values()]))
        remap = np.zeros(len(data.y), dtype=np.int64)
        remap[used] = np.arange(len(used))
        rows = torch.from_numpy(used)
        self.X, self.y = data.X[rows], data.y[rows]
        self._parts = {c: remap[p] for c, p in parts.items()}
        self._evals = None if evals is None else {c: remap[p] for c, p in evals.items()}
        self._sizes = np.zeros(data.n_clients, dtype=np.int64)
        self._sizes[owned] = data.sizes(owned)

    @property
    def n_clients(self) -> int:
        return len(self._sizes)

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        return self._sizes[np.asarray(client_ids, dtype=np.int64)]

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        return RoundView(self.X, self.y, [self._parts.get(int(c), _NO_ROWS) for c in client_ids])

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        if self._evals is None:
            return None
        return RoundView(self.X, self.y, [self._evals.get(int(c), _NO_ROWS) for c in client_ids])


def shard_data(data: ClientData, n_workers: int) -> list[ClientData]:
    """What each of ``n_workers`` actors receives: its own clients' rows of a ``PartitionedData``
    (client ``c`` to actor ``c % n_workers``); any other population (e.g. ``SyntheticClients``, which
    generates its clients from their ids) whole."""
    if type(data) is not PartitionedData or n_workers == 1:
        return [data] * n_workers
    ids = np.arange(data.n_clients, dtype=np.int64)
    return [ShardedData(data, ids[ids % n_workers == w]) for w in range(n_workers)]


# -- the actor -------------------------------------------------------------------------------------------
class _Worker:
    """One actor: a local runtime over the population, kept warm for the whole run."""

    def __init__(
        self, model: nn.Module, data: ClientData, seed: int, max_clients: int, kind: str, threads: int,
        rank: int, n_workers: int,
    ) -> None:
        torch.set_num_threads(threads)
        self.rank, self.n_workers = rank, n_workers
        self.runtime = make_runtime(kind, model, data, seed=seed, max_clients=max_clients)

    def ready(self) -> dict[str, Any]:
        """Where this actor runs (returned once built: the constructor waits for it)."""
        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "runtime": type(self.runtime).__name__}

    def fit(self, plan: RoundPlan, client_ids: np.ndarray) -> Packed:
        if np.any(np.asarray(client_ids) % self.n_workers != self.rank):
            raise ConfigError(f"Ray actor {self.rank} of {self.n_workers} was sent clients it does not own")
        return pack_results(self.runtime.fit(plan, client_ids))

    def state_dict(self) -> dict[str, Any]:
        return self.runtime.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.runtime.load_state_dict(state)


class RayRuntime:
    """Client runtime that shards each round's clients over ``n_workers`` warm Ray actors.

    Parameters
    ----------
    model, data, seed, max_clients:
        As for :class:`~tandem.federated.client_runtime.ClientRuntime` (shipped to the actors once).
    n_workers:
        Number of actors.
    worker_cpus:
        CPUs each actor reserves, and its torch threads (default 1: on one machine, one actor per core
        is fastest for small models; on a cluster, e.g. one actor per node with all its cores).
    kind:
        Runtime inside each actor: ``"auto"``, ``"batched"``, ``"functional"`` or ``"sequential"``.
    address:
        Ray cluster to join (``"auto"``, ``"host:6379"`` or ``"ray://host:10001"``); ``None`` starts a
        local cluster, unless this process is already connected to one (then that one is used).
    num_cpus:
        CPUs of a locally started cluster (default ``n_workers * worker_cpus``).
    runtime_env:
        Ray runtime environment of the actors (e.g. ``{"pip": [...]}`` on a cluster without tandem).
    start_timeout_s:
        How long to wait for every actor to be up before giving up with a :class:`ConfigError`.
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        *,
        seed: int = 0,
        max_clients: int = 1024,
        n_workers: int = 2,
        worker_cpus: int = 1,
        kind: str = "auto",
        address: str | None = None,
        num_cpus: int | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        start_timeout_s: float = 300.0,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the Ray backend needs ray: pip install 'tandem-ml[ray]'") from None
        if n_workers < 1:
            raise ConfigError(f"RayRuntime: n_workers must be >= 1, got {n_workers}")
        if worker_cpus < 1:
            raise ConfigError(f"RayRuntime: worker_cpus must be >= 1, got {worker_cpus}")
        if kind not in KINDS:
            raise ConfigError(f"RayRuntime: kind must be auto, batched, functional or sequential, got {kind!r}")
        if start_timeout_s <= 0:
            raise ConfigError(f"RayRuntime: start_timeout_s must be > 0, got {start_timeout_s}")
        # build one runtime here first: a model the runtime refuses fails now, with its own message
        local = make_runtime(kind, model, data, seed=seed, max_clients=max_clients)
        self.flops_per_example = local.flops_per_example
        del local
        self._ray = ray
        self._owns_cluster = False
        if not ray.is_initialized():
            local_cluster = address is None
            ray.init(
                # "local": a new cluster even where `ray start` or RAY_ADDRESS points at another one
                address="local" if local_cluster else address,
                num_cpus=(num_cpus or n_workers * worker_cpus) if local_cluster else None,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env=dict(runtime_env) if runtime_env else None,
            )
            self._owns_cluster = True
        self.n_workers = int(n_workers)
        # SPREAD: one actor per node before doubling up, so a cluster's nodes share the round
        worker_cls: Any = ray.remote(num_cpus=worker_cpus, scheduling_strategy="SPREAD")(_Worker)
        model_ref = ray.put(model)
        shards = shard_data(data, n_workers)  # the data goes once, each actor its own clients' share
        refs = {id(d): ray.put(d) for d in shards}
        self.workers: list[Any] = [  # actor handles
            worker_cls.remote(model_ref, refs[id(d)], seed, max_clients, kind, worker_cpus, w, n_workers)
            for w, d in enumerate(shards)
        ]
        try:
            self.placement = ray.get([w.ready.remote() for w in self.workers], timeout=start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            resources = ray.cluster_resources()
            self.shutdown()
            raise ConfigError(
                f"RayRuntime: {n_workers} actors of {worker_cpus} CPU(s) each were not all up after "
                f"{start_timeout_s:.0f} s; the cluster has {resources.get('CPU', 0):g} CPUs"
            ) from None
        except ray.exceptions.RayActorError as e:
            self.shutdown()
            raise ConfigError(f"RayRuntime: an actor failed to start: {e}") from None
        nodes = {p["node"] for p in self.placement}
        log.info("ray: %d actors (%s) on %d node(s)", n_workers, self.placement[0]["runtime"], len(nodes))

    def _owner(self, client_ids: np.ndarray) -> np.ndarray:
        return np.asarray(client_ids, dtype=np.int64) % self.n_workers

    def fit(self, plan: RoundPlan, client_ids: Sequence[int] | np.ndarray) -> list[ClientResult]:
        """Train ``client_ids`` on the actors; results in the order given."""
        ids = np.asarray(client_ids, dtype=np.int64).reshape(-1)
        owner = self._owner(ids)
        shards = [np.flatnonzero(owner == w) for w in range(self.n_workers)]
        busy = [(worker, shard) for worker, shard in zip(self.workers, shards, strict=True) if len(shard)]
        plan_ref = self._ray.put(plan)  # one copy in the object store; each actor reads it once
        replies = self._ray.get([worker.fit.remote(plan_ref, ids[shard]) for worker, shard in busy])
        out: list[ClientResult | None] = [None] * len(ids)
        for (_, shard), packed in zip(busy, replies, strict=True):
            for position, result in zip(shard.tolist(), unpack_results(packed), strict=True):
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
        """Stop the actors (and disconnect from, or stop, the cluster if this runtime connected)."""
        for worker in self.workers:
            self._ray.kill(worker)
        self.workers = []
        if self._owns_cluster:
            self._ray.shutdown()
            self._owns_cluster = False
