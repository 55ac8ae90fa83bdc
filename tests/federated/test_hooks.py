"""Client hooks: applied in order by HookedRuntime inside a real simulation; state survives checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.federated.hooks import HookedRuntime, PerClientHook, update_of, with_update
from tandem.federated.strategy import ClientResult, get_strategy
from tandem.sim import FederatedSimulation, PartitionedData, make_runtime


class Halve(PerClientHook):
    def __init__(self):
        self.seen = []

    def transform(self, rnd, global_params, result):
        self.seen.append((rnd, result.client_id))
        return with_update(result, global_params, {k: v / 2 for k, v in update_of(result, global_params).items()})

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state.get("seen", []))


def _sim(hooks):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    data = PartitionedData(X, y, [np.arange(i * 10, i * 10 + 10) for i in range(4)])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    runtime = HookedRuntime(make_runtime("batched", model, data), hooks)
    return FederatedSimulation(
        model, data, get_strategy("fedavg"), rounds=2, clients_per_round=4, runtime=runtime, codec=None, progress=False
    )


def test_hook_halves_every_update_in_the_simulator():
    plain = _sim([]).run()
    halve = Halve()
    halved = _sim([halve]).run()
    assert sorted(halve.seen) == [(r, c) for r in (1, 2) for c in range(4)]
    assert not torch.equal(plain.params["0.weight"], halved.params["0.weight"])


def test_state_round_trip_and_bad_hooks():
    halve = Halve()
    rt = _sim([halve]).runtime
    halve.seen = [(1, 0)]
    state = rt.state_dict()
    halve.seen = []
    rt.load_state_dict(state)
    assert halve.seen == [(1, 0)]
    with pytest.raises(ConfigError, match="not callable"):
        HookedRuntime(rt.inner, [42])


def test_empty_clients_pass_untouched():
    h = Halve()
    r = ClientResult(0, 0, {"w": torch.ones(2)})
    assert h(1, {"w": torch.zeros(2)}, [r])[0] is r


def test_checkpoint_resume_with_defences_is_identical(tmp_path):
    from tandem.federated.compression import CompressedUplink
    from tandem.federated.privacy import CentralDP

    def build(rounds, ckpt):
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40)
        data = PartitionedData(X, y, [np.arange(i * 10, i * 10 + 10) for i in range(4)])
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 2))
        runtime = HookedRuntime(make_runtime("batched", model, data), [CompressedUplink("topk", fraction=0.5)])
        dp = CentralDP("fedavg", clip=0.5, noise_multiplier=0.5, clients_per_round=4, n_clients=4, seed=1)
        sim = FederatedSimulation(
            model,
            data,
            dp,
            rounds=rounds,
            clients_per_round=4,
            runtime=runtime,
            codec=None,
            progress=False,
            checkpoint_dir=ckpt,
        )
        return sim, dp

    straight, dp_straight = build(4, None)
    want = straight.run().params
    first, _ = build(2, tmp_path)
    first.run()
    resumed, dp_resumed = build(4, tmp_path)
    got = resumed.run(resume=True).params
    for k in want:
        assert torch.equal(want[k], got[k])
    assert dp_resumed.epsilon() == dp_straight.epsilon()
