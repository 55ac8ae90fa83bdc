"""The Ray backend on a local 2-CPU cluster gives the local runtime's result (opt in: pytest -m slow)."""

from __future__ import annotations

import pytest
import torch

from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.sim.engine import FederatedSimulation

from .conftest import make_mlp

ray = pytest.importorskip("ray")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fedavg", "scaffold"])
def test_ray_equals_local(small_data, tmp_path, name):
    from tandem.sim.ray_backend import RayRuntime

    kwargs = {"n_clients_total": 12} if name == "scaffold" else {}

    def sim(runtime, rounds, **extra):
        strategy = get_strategy(name, objective=LocalObjective(lr=0.1, batch_size=8), **kwargs)
        return FederatedSimulation(make_mlp(), small_data, strategy, rounds=rounds, clients_per_round=7,
                                   runtime=runtime, progress=False, **extra)

    local = sim("batched", 4).run()
    runtime = RayRuntime(make_mlp(), small_data, n_workers=2, num_cpus=2)
    try:
        remote = sim(runtime, 4).run()
        # checkpoint/resume through the actors' per-client states
        sim(runtime, 2, checkpoint_dir=tmp_path).run()
        resumed = sim(runtime, 4, checkpoint_dir=tmp_path).run(resume=True)
    finally:
        runtime.shutdown()
    for k in local.params:
        assert torch.equal(local.params[k], remote.params[k])
        assert torch.equal(local.params[k], resumed.params[k])
    assert local.curve("loss") == remote.curve("loss")
