"""The federated simulation: the one round loop over the in-process transport, plus selection and evaluation.

:class:`FederatedSimulation` runs a :class:`~tandem.federated.strategy.Strategy` over a client population.
Every round goes through :class:`tandem.federated.rounds.RoundLoop`, the code a real server runs:

1. the selector picks clients (uniform, a replayed schedule, or availability-aware);
2. the strategy plans the round; the plan is encoded in the one wire format and broadcast over the
   transport (bytes are ``len`` of the real payload, charged per device);
3. the devices train: by default :class:`~tandem.sim.devices.SimulatedDevices` over an
   :class:`~tandem.transport.inprocess.InProcessTransport` (batched client runtimes behind them; with a
   fleet, simulated download + compute + upload times, a deadline and dropouts); or real agents over
   :class:`~tandem.transport.http.HttpTransport` (``transport=``, ``devices=RemoteDevices()``);
4. the loop collects, decodes and validates the updates, and the strategy aggregates them (if no client
   contributed, the model is kept);
5. the global model is evaluated centrally (round 0 = the initial model).

Per-round records go to a JSON file after every round, and a checkpoint (global parameters, strategy,
selector and runtime states, history) lets :meth:`FederatedSimulation.run` resume with the identical
result. Local data order and dropouts depend only on ``(seed, round, client)``, so nothing else needs
saving.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.clock import SimClock
from tandem.core.errors import ConfigError
from tandem.core.link import Link
from tandem.data.clients import ClientData
from tandem.federated.rounds import Devices, RoundLoop, RoundOutcome
from tandem.federated.strategy import ClientResult, Params, Strategy
from tandem.fleet import FleetProfiles
from tandem.sim.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint, write_metrics
from tandem.sim.devices import SimulatedDevices
from tandem.sim.runtime import Runtime, make_runtime
from tandem.sim.selection import Selector, UniformSelector
from tandem.sim.stacked import StackedMLP
from tandem.transport.base import Transport
from tandem.transport.inprocess import InProcessTransport

log = logging.getLogger(__name__)
Evaluate = Callable[[Params], Mapping[str, float]]
RoundCallback = Callable[[Mapping[str, Any]], None]


class ClassificationEval:
    """Central evaluation on a held-out set: ``{"accuracy": ..., "loss": ...}`` of the global model."""

    def __init__(self, model: nn.Module, x: Any, y: Any) -> None:
        self.X = torch.as_tensor(x, dtype=torch.float32)
        self.y = torch.as_tensor(y, dtype=torch.int64)
        self.spec = StackedMLP.from_module(model)
        self.module = None if self.spec is not None else copy.deepcopy(model)

    @torch.no_grad()
    def __call__(self, params: Params) -> dict[str, float]:
        if self.spec is not None:
            logits = self.spec.forward_single(params, self.X)
        else:
            assert self.module is not None
            self.module.load_state_dict(params)
            self.module.eval()
            logits = self.module(self.X)
        accuracy = (logits.argmax(1) == self.y).to(torch.float32).mean()
        return {"accuracy": float(accuracy), "loss": float(F.cross_entropy(logits, self.y))}


@dataclass
class FederatedResult:
    """Outcome of a run: final global parameters, one record per round (round 0 = initial evaluation)."""

    params: Params
    history: list[dict[str, Any]]
    wall_clock_s: float
    config: dict[str, Any] = field(default_factory=dict)

    def curve(self, metric: str = "accuracy") -> list[float]:
        """``metric`` of every evaluated round, round 0 first."""
        return [r[metric] for r in self.history if metric in r]

    def final(self, metric: str = "accuracy") -> float:
        """``metric`` after the last round."""
        return self.curve(metric)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "wall_clock_s": self.wall_clock_s, "rounds": self.history}


class FederatedSimulation:
    """A federated run: the round loop over a transport, on one machine by default.

    Parameters
    ----------
    model:
        The client/global architecture; its current parameters are the initial global model.
    data:
        The client population (:class:`~tandem.data.clients.ClientData`).
    strategy:
        Any :class:`~tandem.federated.strategy.Strategy`.
    rounds, clients_per_round:
        Number of rounds and clients asked per round.
    selector:
        Client selection (default :class:`~tandem.sim.selection.UniformSelector` with ``seed``).
    runtime:
        ``"auto"`` (the fastest runtime that can batch the model), ``"batched"``, ``"sequential"``,
        ``"ray"`` or a runtime object (:class:`~tandem.sim.runtime.Runtime`).
    evaluate:
        Central evaluation ``params -> {metric: value}`` (e.g. :class:`ClassificationEval`), or ``None``.
    fleet:
        Device profiles indexed by client id (``compute_gflops``, ``downlink_mbps``, ``uplink_mbps``,
        ``rtt_ms``; e.g. :func:`tandem.fleet.sample_fleet`) for simulated time and the deadline.
    deadline_s:
        Round deadline in simulated seconds (needs ``fleet``); late clients are dropped.
    dropout:
        Probability that a selected client goes offline during the round (seeded by round).
    codec, compress:
        Wire codec of plans and updates (``"fp32"`` lossless, ``"fp16"``, ``"int8"``, ...; ``None`` means
        ``"fp32"``) and ``"zstd"`` compression or ``None``. Every payload is really encoded and decoded.
    seed:
        Seed of local data order and dropouts.
    metrics_path:
        JSON file rewritten after every round with all records so far.
    checkpoint_dir, checkpoint_every:
        Where and how often (in rounds) to save a checkpoint; the last round is always saved.
    progress:
        Log one line per round (``logging`` at INFO; the CLI shows a progress bar instead).
    max_clients:
        Clients a batched runtime trains together at most (bounds memory; results do not depend on it).
    transport, devices, addresses:
        Run the same rounds elsewhere: e.g. ``HttpTransport`` to a real server with
        ``RemoteDevices()`` (its agents train) and ``addresses`` mapping client ids to enrolled device ids.
    on_round:
        Called with every round's record (round 0 included), e.g. to drive a progress bar.
    """

    def __init__(
        self,
        model: nn.Module,
        data: ClientData,
        strategy: Strategy,
        *,
        rounds: int,
        clients_per_round: int,
        selector: Selector | None = None,
        runtime: str | Runtime = "auto",
        evaluate: Evaluate | None = None,
        fleet: FleetProfiles | None = None,
        deadline_s: float | None = None,
        dropout: float = 0.0,
        codec: str | None = "fp32",
        compress: str | None = None,
        seed: int = 0,
        metrics_path: str | Path | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1,
        progress: bool = True,
        max_clients: int = 1024,
        transport: Transport | None = None,
        devices: Devices | None = None,
        addresses: Mapping[int, int] | None = None,
        on_round: RoundCallback | None = None,
    ) -> None:
        _check_run(rounds, clients_per_round, data.n_clients, fleet, deadline_s, dropout, checkpoint_every)
        if (transport is None) != (devices is None):
            raise ConfigError("FederatedSimulation: give transport and devices together (or neither)")
        self.model, self.data, self.strategy = model, data, strategy
        self.rounds, self.clients_per_round = int(rounds), int(clients_per_round)
        self.selector = selector if selector is not None else UniformSelector(seed)
        self.fleet, self.deadline_s, self.dropout = fleet, deadline_s, float(dropout)
        self.codec, self.compress, self.seed = codec or "fp32", compress, int(seed)
        self.evaluate = evaluate
        self.metrics_path = None if metrics_path is None else Path(metrics_path)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = int(checkpoint_every)
        self.progress, self.on_round = progress, on_round
        self.transport, self.addresses = transport, addresses
        self.runtime: Runtime | None = None
        if devices is None:  # the simulated fleet
            self.runtime = (
                make_runtime(runtime, model, data, seed=seed, max_clients=max_clients)
                if isinstance(runtime, str)
                else runtime
            )
            devices = SimulatedDevices(
                self.runtime, data.sizes, fleet=fleet, deadline_s=deadline_s, dropout=dropout, seed=seed,
                codec=self.codec, compress=compress,
            )
        self.devices: Devices = devices
        self.loop = RoundLoop(strategy, codec=self.codec, compress=compress)
        self.config = {
            "strategy": strategy.name,
            "rounds": self.rounds,
            "clients_per_round": self.clients_per_round,
            "n_clients": int(data.n_clients),
            "runtime": type(self.runtime).__name__ if self.runtime is not None else type(devices).__name__,
            "transport": "in-process" if transport is None else type(transport).__name__,
            "codec": self.codec,
            "deadline_s": self.deadline_s,
            "dropout": self.dropout,
            "seed": self.seed,
        }

    # ---------------------------------------------------------------------------------------------- run
    def run(self, resume: bool = False) -> FederatedResult:
        """Run every round (from the last checkpoint if ``resume`` and one exists) and return the result."""
        started = time.perf_counter()
        params = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        history: list[dict[str, Any]] = []
        start, now = 0, 0.0
        path = self._checkpoint_path()
        if resume and path is not None and path.exists():
            params, history, now, start = self._restore(path, params)
        else:
            self.strategy.initialize(params, n_clients=self.data.n_clients)
            if self.runtime is not None:
                self.runtime.load_state_dict({"clients": {}})  # a fresh run starts with no per-client state
            history.append({"round": 0, **self._evaluate(params)})
            self._report(history[-1])
        transport = self.transport if self.transport is not None else self._in_process(now)
        for rnd in range(start + 1, self.rounds + 1):
            tic = time.perf_counter()
            params, record = self._round(rnd, params, transport)
            record.update(self._evaluate(params))
            record["wall_s"] = time.perf_counter() - tic
            history.append(record)
            self._after_round(rnd, params, history, record["sim_time_s"])
            self._report(record)
        return FederatedResult(params, history, time.perf_counter() - started, dict(self.config))

    def _in_process(self, now: float) -> InProcessTransport:
        n = self.data.n_clients
        clock = SimClock(n, start_s=now)
        if self.fleet is not None:
            return InProcessTransport(self.fleet.subset(np.arange(n)), clock=clock)
        return InProcessTransport(None, link=Link.instant(n), clock=clock)

    def _evaluate(self, params: Params) -> dict[str, float]:
        return dict(self.evaluate(params)) if self.evaluate is not None else {}

    def _report(self, record: Mapping[str, Any]) -> None:
        if self.on_round is not None:
            self.on_round(record)
        if self.progress and record["round"] > 0:
            shown = {k: round(v, 4) for k, v in record.items() if k in ("accuracy", "loss", "train_loss")}
            log.info("round %d/%d %s", record["round"], self.rounds, shown)

    def _round(self, rnd: int, params: Params, transport: Transport) -> tuple[Params, dict[str, Any]]:
        selected = np.asarray(self.selector.select(rnd, self.data.n_clients, self.clients_per_round), np.int64)
        began = transport.ledger.now_s
        out = self.loop.run_round(rnd, params, transport, selected, self.devices, addresses=self.addresses)
        return out.params, self._record(rnd, selected, out, began, transport)

    def _record(
        self, rnd: int, selected: np.ndarray, out: RoundOutcome, began: float, transport: Transport
    ) -> dict[str, Any]:
        completed = [r.client_id for r in out.results]
        offline: list[int] = []
        done = set(completed)
        late: list[int] = [c for c in selected.tolist() if c not in done]
        sim_now = 0.0
        if isinstance(self.devices, SimulatedDevices):
            offline = self.devices.last.offline.tolist()
            late = sorted(set(late) - set(offline))
            sim_now = transport.ledger.now_s
        record: dict[str, Any] = {
            "round": rnd,
            "selected": selected.tolist(),
            "completed": completed,
            "dropped": {"offline": offline, "deadline": late},
            "refused": {str(k): v for k, v in out.refused.items()},
            "aggregated": out.aggregated,
            "n_examples": int(sum(r.n_examples for r in out.results)),
            "bytes_down": int(out.plan_bytes * len(selected)),
            "bytes_up": int(out.bytes_up),
            "sim_round_s": sim_now - began if isinstance(self.devices, SimulatedDevices) else 0.0,
            "sim_time_s": sim_now,
        }
        record.update(_client_metrics(out.results))
        return record

    # ------------------------------------------------------------------------------- metrics, checkpoints
    def _checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    def _after_round(self, rnd: int, params: Params, history: list[dict[str, Any]], now: float) -> None:
        if self.metrics_path is not None:
            write_metrics(self.metrics_path, self.config, history)
        path = self._checkpoint_path()
        if path is not None and (rnd % self.checkpoint_every == 0 or rnd == self.rounds):
            state = {
                "round": rnd,
                "fingerprint": self._fingerprint(params),
                "params": params,
                "strategy": self.strategy.state_dict(),
                "selector": self.selector.state_dict(),
                "runtime": self.runtime.state_dict() if self.runtime is not None else {},
                "history": history,
                "sim_time_s": now,
            }
            save_checkpoint(path, state)

    def _fingerprint(self, params: Params) -> dict[str, Any]:
        return {
            "strategy": self.strategy.name,
            "n_clients": int(self.data.n_clients),
            "clients_per_round": self.clients_per_round,
            "seed": self.seed,
            "params": {k: list(v.shape) for k, v in params.items()},
        }

    def _restore(self, path: Path, params: Params) -> tuple[Params, list[dict[str, Any]], float, int]:
        state = load_checkpoint(path, self._fingerprint(params), self.rounds)
        self.strategy.load_state_dict(state["strategy"])
        self.selector.load_state_dict(state["selector"])
        if self.runtime is not None:
            self.runtime.load_state_dict(state["runtime"])
        return state["params"], list(state["history"]), float(state["sim_time_s"]), int(state["round"])


def _check_run(
    rounds: int,
    clients_per_round: int,
    n_clients: int,
    fleet: FleetProfiles | None,
    deadline_s: float | None,
    dropout: float,
    checkpoint_every: int,
) -> None:
    """ConfigError naming the first bad argument, before anything is built."""
    if rounds < 1:
        raise ConfigError(f"FederatedSimulation: rounds must be >= 1, got {rounds}")
    if not 1 <= clients_per_round <= n_clients:
        raise ConfigError(
            f"FederatedSimulation: clients_per_round must be in 1..{n_clients} (the population), "
            f"got {clients_per_round}"
        )
    if deadline_s is not None and (fleet is None or not deadline_s > 0):
        raise ConfigError("FederatedSimulation: deadline_s must be > 0 and needs a fleet of device profiles")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"FederatedSimulation: dropout must be in [0, 1), got {dropout}")
    if checkpoint_every < 1:
        raise ConfigError(f"FederatedSimulation: checkpoint_every must be >= 1, got {checkpoint_every}")
    if fleet is not None and len(fleet.compute_gflops) < n_clients:
        raise ConfigError(
            f"FederatedSimulation: the fleet has {len(fleet.compute_gflops)} devices for "
            f"{n_clients} clients (device d runs client d)"
        )


def _client_metrics(results: list[ClientResult]) -> dict[str, float]:
    """Example-weighted means of the clients' training metrics (and eval-weighted local accuracy)."""
    out: dict[str, float] = {}
    trained = [r for r in results if r.n_examples > 0]
    total = sum(r.n_examples for r in trained)
    if total:
        out["train_loss"] = sum(r.metrics.get("train_loss", 0.0) * r.n_examples for r in trained) / total
    local = [r for r in trained if "local_accuracy" in r.metrics]
    n_eval = sum(r.metrics["n_local_eval"] for r in local)
    if n_eval:
        out["local_accuracy"] = sum(r.metrics["local_accuracy"] * r.metrics["n_local_eval"] for r in local) / n_eval
    return out


def run_federated(
    model: nn.Module, data: ClientData, strategy: Strategy, *, resume: bool = False, **kwargs: Any
) -> FederatedResult:
    """Build a :class:`FederatedSimulation` with ``kwargs`` and run it."""
    return FederatedSimulation(model, data, strategy, **kwargs).run(resume=resume)
