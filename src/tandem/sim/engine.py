"""The federated simulation engine: rounds of select -> broadcast -> local training -> upload -> aggregate.

:class:`FederatedSimulation` runs a :class:`~tandem.federated.strategy.Strategy` over a client
population with a client runtime (batched, sequential or Ray), and per round:

1. the selector picks clients (uniform, a replayed schedule, or availability-aware);
2. the plan is encoded and broadcast (:class:`~tandem.sim.wire.Wire`; bytes from the real payload);
3. with a fleet and a ``deadline_s``, each client's time is download + compute + upload from its
   device profile (compute = training FLOPs / the device's GFLOP/s; transfers over
   :class:`tandem.core.link.Link` with the real payload sizes). Clients that cannot finish downloading
   and computing before the deadline are dropped without training; clients whose upload lands late are
   dropped after training. ``dropout`` drops a random share of the selected clients (they go offline);
4. the strategy aggregates the updates of the clients that made it (if none did, the model is kept);
5. the global model is evaluated centrally (round 0 = the initial model).

Per-round records go to a JSON file after every round, and a checkpoint (global parameters, strategy,
selector and runtime states, history) lets :meth:`FederatedSimulation.run` resume with the identical
result. Local data order and dropouts depend only on ``(seed, round, client)``, so nothing else needs
saving.
"""

from __future__ import annotations

import copy
import json
import os
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
from tandem.federated.strategy import ClientResult, Params, Strategy
from tandem.fleet import device_compute_time_s
from tandem.sim.clientdata import ClientData
from tandem.sim.runtime import Runtime, make_runtime
from tandem.sim.selection import Selector, UniformSelector
from tandem.sim.stacked import StackedMLP
from tandem.sim.wire import Wire

CHECKPOINT_NAME = "checkpoint.pt"
Evaluate = Callable[[Params], Mapping[str, float]]


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
        return self.curve(metric)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "wall_clock_s": self.wall_clock_s, "rounds": self.history}


class FederatedSimulation:
    """A federated run on one machine (or a Ray cluster with ``runtime="ray"``).

    Parameters
    ----------
    model:
        The client/global architecture; its current parameters are the initial global model.
    data:
        The client population (:class:`~tandem.sim.clientdata.ClientData`).
    strategy:
        Any registered :class:`~tandem.federated.strategy.Strategy`.
    rounds, clients_per_round:
        Number of rounds and clients asked per round.
    selector:
        Client selection (default :class:`~tandem.sim.selection.UniformSelector` with ``seed``).
    runtime:
        ``"auto"`` (batched if the model is an MLP, else sequential), ``"batched"``, ``"sequential"``,
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
        Wire codec for downloads and uploads (:class:`~tandem.sim.wire.Wire`); ``codec=None`` skips encoding
        (no bytes are counted).
    seed:
        Seed of local data order and dropouts.
    metrics_path:
        JSON file rewritten after every round with all records so far.
    checkpoint_dir, checkpoint_every:
        Where and how often (in rounds) to save a checkpoint; the last round is always saved.
    progress:
        Show a progress bar (rich).
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
        fleet: Any = None,
        deadline_s: float | None = None,
        dropout: float = 0.0,
        codec: str | None = "fp32",
        compress: str | None = None,
        seed: int = 0,
        metrics_path: str | os.PathLike[str] | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1,
        progress: bool = True,
        max_clients: int = 1024,
    ) -> None:
        if rounds < 1:
            raise ConfigError(f"FederatedSimulation: rounds must be >= 1, got {rounds}")
        if not 1 <= clients_per_round <= data.n_clients:
            raise ConfigError(
                f"FederatedSimulation: clients_per_round must be in 1..{data.n_clients} (the population), "
                f"got {clients_per_round}"
            )
        if deadline_s is not None and (fleet is None or not deadline_s > 0):
            raise ConfigError("FederatedSimulation: deadline_s must be > 0 and needs a fleet of device profiles")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"FederatedSimulation: dropout must be in [0, 1), got {dropout}")
        if checkpoint_every < 1:
            raise ConfigError(f"FederatedSimulation: checkpoint_every must be >= 1, got {checkpoint_every}")
        self.model = model
        self.data = data
        self.strategy = strategy
        self.rounds = int(rounds)
        self.clients_per_round = int(clients_per_round)
        self.selector = selector if selector is not None else UniformSelector(seed)
        self.runtime = (
            make_runtime(runtime, model, data, seed=seed, max_clients=max_clients)
            if isinstance(runtime, str)
            else runtime
        )
        self.evaluate = evaluate
        self.fleet = fleet
        self.link = None
        if fleet is not None:
            if len(fleet.compute_gflops) < data.n_clients:
                raise ConfigError(
                    f"FederatedSimulation: the fleet has {len(fleet.compute_gflops)} devices for "
                    f"{data.n_clients} clients (device d runs client d)"
                )
            self.link = Link.from_profiles(fleet)
        self.deadline_s = None if deadline_s is None else float(deadline_s)
        self.dropout = float(dropout)
        self.wire = None if codec is None else Wire(codec, compress)
        self.seed = int(seed)
        self.metrics_path = None if metrics_path is None else Path(metrics_path)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = int(checkpoint_every)
        self.progress = progress
        self.config = {
            "strategy": strategy.name,
            "rounds": self.rounds,
            "clients_per_round": self.clients_per_round,
            "n_clients": int(data.n_clients),
            "runtime": type(self.runtime).__name__,
            "codec": codec,
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
        clock = SimClock()
        start = 0
        checkpoint = self._checkpoint_path()
        if resume and checkpoint is not None and checkpoint.exists():
            params, history, clock, start = self._load(checkpoint, params)
        else:
            self.strategy.initialize(params)
            self.runtime.load_state_dict({"clients": {}})  # a fresh run starts with no per-client state
            history.append({"round": 0, **self._evaluate(params)})
        bar = _Progress(self.rounds, start, self.progress)
        try:
            for rnd in range(start + 1, self.rounds + 1):
                tic = time.perf_counter()
                params, record = self._round(rnd, params, clock)
                record.update(self._evaluate(params))
                record["wall_s"] = time.perf_counter() - tic
                history.append(record)
                self._after_round(rnd, params, history, clock)
                bar.update(record)
        finally:
            bar.close()
        result = FederatedResult(params, history, time.perf_counter() - started, dict(self.config))
        return result

    def _evaluate(self, params: Params) -> dict[str, float]:
        return dict(self.evaluate(params)) if self.evaluate is not None else {}

    def _round(self, rnd: int, params: Params, clock: SimClock) -> tuple[Params, dict[str, Any]]:
        plan = self.strategy.configure_round(rnd, params)
        selected = np.asarray(self.selector.select(rnd, self.data.n_clients, self.clients_per_round), np.int64)
        offline = np.zeros(len(selected), dtype=bool)
        if self.dropout > 0:
            offline = np.random.default_rng([self.seed, rnd, 2**31 - 1]).random(len(selected)) < self.dropout
        client_plan, down_bytes = self.wire.download(plan) if self.wire is not None else (plan, 0)
        candidates = selected[~offline]
        late_before = np.zeros(len(candidates), dtype=bool)
        ready_s = np.zeros(len(candidates))
        if self.link is not None:
            sizes = self.data.sizes(candidates).astype(np.float64)
            flops = sizes * plan.objective.epochs * self.runtime.flops_per_example
            compute_s = device_compute_time_s(flops, self.fleet, candidates)
            ready_s = self.link.charge_down(candidates, down_bytes) + compute_s
            if self.deadline_s is not None:
                late_before = ready_s > self.deadline_s
        trained_ids = candidates[~late_before]
        results: list[ClientResult] = self.runtime.fit(client_plan, trained_ids) if len(trained_ids) else []
        up_bytes = np.zeros(len(results), dtype=np.int64)
        if self.wire is not None:
            for i, result in enumerate(results):
                results[i], up_bytes[i] = self.wire.upload(rnd, result)
        finish_s = ready_s[~late_before]
        if self.link is not None and len(results):
            finish_s = finish_s + self.link.charge_up(trained_ids, up_bytes)
        late_after = finish_s > self.deadline_s if self.deadline_s is not None else np.zeros(len(results), bool)
        completed = [r for r, late in zip(results, late_after, strict=True) if not late]
        n_examples = sum(r.n_examples for r in completed)
        if n_examples > 0:
            params = self.strategy.aggregate(rnd, params, completed)
        round_s = 0.0
        if self.link is not None:
            # the server waits for the last update, or until the deadline if someone is late
            late = bool(late_before.any() or late_after.any())
            round_s = self.deadline_s if late else float(finish_s.max(initial=0.0))
            clock.advance(round_s)
        record: dict[str, Any] = {
            "round": rnd,
            "selected": selected.tolist(),
            "completed": [r.client_id for r in completed],
            "dropped": {
                "offline": selected[offline].tolist(),
                "deadline": sorted(candidates[late_before].tolist() + trained_ids[late_after].tolist()),
            },
            "aggregated": n_examples > 0,
            "n_examples": int(n_examples),
            "bytes_down": int(down_bytes * len(candidates)),
            "bytes_up": int(up_bytes.sum()),
            "sim_round_s": round_s,
            "sim_time_s": clock.now,
        }
        record.update(_client_metrics(completed))
        return params, record

    # ------------------------------------------------------------------------------- metrics, checkpoints
    def _checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    def _after_round(self, rnd: int, params: Params, history: list[dict[str, Any]], clock: SimClock) -> None:
        if self.metrics_path is not None:
            body = {"config": self.config, "rounds": history}
            _atomic_write(self.metrics_path, json.dumps(body, indent=1).encode())
        path = self._checkpoint_path()
        if path is not None and (rnd % self.checkpoint_every == 0 or rnd == self.rounds):
            state = {
                "round": rnd,
                "fingerprint": self._fingerprint(params),
                "params": params,
                "strategy": self.strategy.state_dict(),
                "selector": self.selector.state_dict(),
                "runtime": self.runtime.state_dict(),
                "history": history,
                "sim_time_s": clock.now,
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(state, tmp)
            os.replace(tmp, path)

    def _fingerprint(self, params: Params) -> dict[str, Any]:
        return {
            "strategy": self.strategy.name,
            "n_clients": int(self.data.n_clients),
            "clients_per_round": self.clients_per_round,
            "seed": self.seed,
            "params": {k: list(v.shape) for k, v in params.items()},
        }

    def _load(self, path: Path, params: Params) -> tuple[Params, list[dict[str, Any]], SimClock, int]:
        state = torch.load(path, weights_only=True)
        want = self._fingerprint(params)
        if state.get("fingerprint") != want:
            raise ConfigError(
                f"checkpoint {path} belongs to another run: it has {state.get('fingerprint')}, this run is {want}"
            )
        if state["round"] > self.rounds:
            raise ConfigError(f"checkpoint {path} is at round {state['round']}, past rounds={self.rounds}")
        self.strategy.load_state_dict(state["strategy"])
        self.selector.load_state_dict(state["selector"])
        self.runtime.load_state_dict(state["runtime"])
        return state["params"], list(state["history"]), SimClock(start_s=state["sim_time_s"]), int(state["round"])


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


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Progress:
    """A rich progress bar over rounds; a no-op when disabled (rich is then never imported)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]federated rounds"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("rounds", total=total, completed=done, status="")

    def update(self, record: Mapping[str, Any]) -> None:
        if self.bar is not None:
            status = f"acc {record['accuracy']:.4f}" if "accuracy" in record else ""
            self.bar.update(self.task, advance=1, status=status)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_federated(
    model: nn.Module, data: ClientData, strategy: Strategy, *, resume: bool = False, **kwargs: Any
) -> FederatedResult:
    """Build a :class:`FederatedSimulation` with ``kwargs`` and run it."""
    return FederatedSimulation(model, data, strategy, **kwargs).run(resume=resume)
