"""The four runners of every workload, side by side on the same partition, schedule and initial weights.

* ``tandem``: :class:`tandem.sim.FederatedSimulation` with ``runtime="auto"`` (the batched runtimes);
* ``sequential``: the same with ``runtime="sequential"`` (tandem's reference trainer, one client at a time);
* ``plain``: the per-client loop a user writes without a framework (:func:`plain_loop`: ``nn.Module``,
  ``torch.optim.SGD`` per client, FedAvg by hand);
* ``flower``: Flower's simulation engine (``flwr[simulation]``, Ray backend) running the same client code
  as the plain loop (:func:`train_client`) in a ``ClientApp`` and FedAvg (replies in ascending client id)
  replaying the schedule in a ``ServerApp``, with the same central evaluation.

Run time is the peer's definition (``shared/peers/workload.json`` "timing"): from after imports and data
loading to the final metric, i.e. building the run (for Flower: the ``run_simulation`` call, Ray start
included), the round-0 evaluation and every round. Every child makes the imports its runner needs before
the clock starts (the first ``torch.optim`` step and the first ``torch.func`` call import ``torch._dynamo``,
about a second, which would otherwise land in whichever runner came first), and no others.
Whole-process time and peak RSS (summed over the child's process tree, so Flower's Ray workers count)
are measured by the parent around each fresh child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from workloads import REPO, Workload, build

HERE = Path(__file__).resolve().parent
VARIANTS = ("tandem", "sequential", "plain", "flower")


def flower_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flwr") is not None and importlib.util.find_spec("ray") is not None


# ----------------------------------------------------------------------------------------- the client step
def train_client(model: nn.Module, w: Workload, X: torch.Tensor, y: torch.Tensor, rnd: int, cid: int) -> int:  # noqa: N803
    """What a user writes: ``model`` (holding the global weights) trains on client ``cid`` in round ``rnd``.

    Fresh ``torch.optim.SGD(lr)`` per client; each epoch visits the rows in the order
    ``default_rng([seed, rnd, cid]).permutation(n)`` in minibatches (last partial batch kept); mean
    cross-entropy. Returns the number of examples (0: the model is left as received).
    """
    rows = w.parts[cid]
    n = len(rows)
    if n == 0:
        return 0
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=w.lr)
    rng = np.random.default_rng([w.seed, rnd, cid])
    for _ in range(w.epochs):
        order = rows[rng.permutation(n)]
        for start in range(0, n, w.batch_size):
            batch = torch.from_numpy(order[start : start + w.batch_size])
            optimizer.zero_grad()
            F.cross_entropy(model(X[batch]), y[batch]).backward()
            optimizer.step()
    return n


def fedavg(states: list[dict[str, torch.Tensor]], weights: list[int]) -> dict[str, torch.Tensor]:
    """sum_k (n_k / sum n) * state_k in float32, in the order given (ascending client id)."""
    total = float(sum(weights))
    out = {}
    for key in states[0]:
        acc = torch.zeros_like(states[0][key])
        for state, n in zip(states, weights, strict=True):
            if n:
                acc += state[key] * (n / total)
        out[key] = acc
    return out


def plain_loop(w: Workload) -> list[float]:
    """The workload as a plain PyTorch loop; the metric at every evaluated round."""
    model = w.model_fn()
    X, y = torch.from_numpy(w.X), torch.from_numpy(w.y)
    global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    curve: list[float] = []

    def evaluate(rnd: int) -> None:
        if w.evaluated(rnd):
            model.load_state_dict(global_state)
            curve.append(w.evaluate(model))

    evaluate(0)
    for rnd, selected in enumerate(w.schedule, start=1):
        states, weights = [], []
        for cid in selected:  # ascending client id
            model.load_state_dict(global_state)
            n = train_client(model, w, X, y, rnd, cid)
            if n:
                states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
                weights.append(n)
        if weights:
            global_state = fedavg(states, weights)
        evaluate(rnd)
    return curve


# ------------------------------------------------------------------------------------------------ tandem
class RoundEval:
    """tandem's central evaluation at the workload's evaluated rounds (the same rounds as every runner)."""

    def __init__(self, w: Workload) -> None:
        self.w, self.model, self.calls = w, w.model_fn(), 0

    def __call__(self, params: dict[str, torch.Tensor]) -> dict[str, float]:
        rnd, self.calls = self.calls, self.calls + 1
        if not self.w.evaluated(rnd):
            return {}
        self.model.load_state_dict(params)
        return {self.w.metric: self.w.evaluate(self.model)}


def tandem_simulation(w: Workload, runtime: str, **kwargs: Any) -> Any:
    from tandem.data import PartitionedData
    from tandem.federated.strategy import LocalObjective, get_strategy
    from tandem.sim import FederatedSimulation
    from tandem.sim.selection import ScheduleSelector

    objective = LocalObjective(lr=w.lr, epochs=w.epochs, batch_size=w.batch_size)
    return FederatedSimulation(
        w.model_fn(),
        PartitionedData(w.X, w.y, w.parts),
        get_strategy("fedavg", objective=objective),
        rounds=w.rounds,
        clients_per_round=len(w.schedule[0]),
        selector=ScheduleSelector(w.schedule),
        evaluate=RoundEval(w),
        runtime=runtime,
        seed=w.seed,
        progress=False,
        **kwargs,
    )


def run_tandem(w: Workload, runtime: str) -> tuple[list[float], str]:
    sim = tandem_simulation(w, runtime)
    result = sim.run()
    return result.curve(w.metric), sim.config["runtime"]


# ------------------------------------------------------------------------------------------------ Flower
_WORKLOADS: dict[tuple[str, bool], Workload] = {}


def cached_workload(name: str, quick: bool) -> Workload:
    """The workload, built once per process (Flower's Ray workers build their own copy, as a user's would)."""
    key = (name, quick)
    if key not in _WORKLOADS:
        _WORKLOADS[key] = build(name, quick)
    return _WORKLOADS[key]


def flower_train(name: str, quick: bool, msg: Any) -> Any:
    """The ClientApp's train handler: the plain loop's :func:`train_client` on the client the server named."""
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    w = cached_workload(name, quick)
    cfg = msg.content["config"]
    cid, rnd = int(cfg["cid"]), int(cfg["server-round"])
    model = w.model_fn()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    n = train_client(model, w, torch.from_numpy(w.X), torch.from_numpy(w.y), rnd, cid)
    reply = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": MetricRecord({"num-examples": n,
                                                                                             "cid": cid})})
    return Message(content=reply, reply_to=msg)


def run_flower(w: Workload, quick: bool) -> list[float]:
    """Flower 1.4x simulation engine (Ray), FedAvg replaying the schedule; central metric per evaluated round."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    name, schedule = w.name, w.schedule
    curve: list[float] = []

    class ScheduledFedAvg(FedAvg):  # type: ignore[misc]
        """FedAvg whose round r trains the schedule's clients (node i plays client i), replies by client id."""

        def configure_train(self, server_round: int, arrays: Any, config: Any, grid: Any) -> list[Any]:
            nodes = sorted(grid.get_node_ids())
            while len(nodes) < w.n_clients:  # every simulated node registered (node i plays client i)
                time.sleep(0.05)
                nodes = sorted(grid.get_node_ids())
            return [
                Message(
                    content=RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": server_round,
                                                                                   "cid": int(cid)})}),
                    message_type=MessageType.TRAIN,
                    dst_node_id=nodes[cid],
                )
                for cid in schedule[server_round - 1]
            ]

        def aggregate_train(self, server_round: int, replies: Any) -> Any:
            ordered = sorted(replies, key=lambda m: int(m.content["metrics"]["cid"]))
            return super().aggregate_train(server_round, ordered)

    client_app = ClientApp()

    @client_app.train()
    def _train(msg: Any, context: Context) -> Any:
        return flower_train(name, quick, msg)

    server_app = ServerApp()

    @server_app.main()
    def _main(grid: Grid, context: Context) -> None:
        model = w.model_fn()

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            if not w.evaluated(server_round):
                return None
            model.load_state_dict(arrays.to_torch_state_dict())
            curve.append(w.evaluate(model))
            return MetricRecord({w.metric: curve[-1]})

        strategy = ScheduledFedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=w.n_clients)
        strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=w.rounds,
                       evaluate_fn=evaluate_fn)

    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        # address "local": a cluster of its own, never one that happens to run on this machine
        "init_args": {"address": "local", "num_cpus": os.cpu_count() or 2, "include_dashboard": False,
                      "logging_level": "ERROR", "log_to_driver": False},
    }
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=w.n_clients,
                   backend_config=backend)
    return curve


# ---------------------------------------------------------------------------------------------- children
def warm_imports(variant: str, w: Workload | None = None) -> None:
    """The imports a runner needs, before the clock starts (see the module docstring), and no others, so that
    whole-process time stays each runner's own: ``torch.optim``'s first step imports ``torch._dynamo`` (plain
    loop, Flower's clients); tandem's vmap runtime imports ``torch.func`` (models that are not plain MLPs)."""
    if variant in ("plain", "flower"):
        import torch._dynamo
    if variant in ("tandem", "sequential"):
        import tandem.sim  # noqa: F401
        from tandem.sim.stacked import StackedMLP

        if variant == "tandem" and (w is None or StackedMLP.from_module(w.model_fn()) is None):
            import torch.func  # noqa: F401
    if variant == "flower":
        import flwr.simulation  # noqa: F401


def run_variant(name: str, variant: str, quick: bool) -> dict[str, Any]:
    """Build the workload, run one runner on it; the child's JSON record."""
    torch.set_num_threads(1)
    if variant == "flower":  # Ray workers import this module and the workloads by name
        paths = [str(HERE), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    w = cached_workload(name, quick)
    warm_imports(variant, w)
    runtime = ""
    started = time.perf_counter()
    if variant == "tandem":
        curve, runtime = run_tandem(w, "auto")
    elif variant == "sequential":
        curve, runtime = run_tandem(w, "sequential")
    elif variant == "plain":
        curve = plain_loop(w)
    elif variant == "flower":
        curve = run_flower(w, quick)
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    run_s = time.perf_counter() - started
    return {
        "variant": variant,
        "metric": curve[-1] if curve else None,
        "curve": curve,
        "run_s": run_s,
        "runtime": runtime,
        "self_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def spawn(name: str, variant: str, quick: bool, timeout_s: float = 900.0) -> dict[str, Any]:
    """One runner in a fresh process; adds whole-process time and the peak RSS of its process tree."""
    cmd = [sys.executable, str(HERE / "run_all.py"), "--child", name, variant] + (["--quick"] if quick else [])
    peak = [0.0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {"variant": variant, "error": f"timed out after {timeout_s:.0f} s"}
    finally:
        done.set()
        sampler.join()
        process_s = time.perf_counter() - started
        with contextlib.suppress(ProcessLookupError):  # what the child left in its session (Ray's daemons)
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"variant": variant, "error": f"exit {proc.returncode}: {err.strip()[-800:]}"}
    record = json.loads(lines[-1])
    record["process_s"] = process_s
    record["peak_rss_mb"] = max(peak[0], record.get("self_peak_rss_mb", 0.0))
    return record
