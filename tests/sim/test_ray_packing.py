"""What the Ray backend ships (no Ray needed): results packed as stacked arrays, each actor's share of the data."""

from __future__ import annotations

import torch

from tandem.federated.strategy import ClientResult
from tandem.sim.ray_backend import pack_results, unpack_results


def _fields(r: ClientResult) -> tuple:
    return r.client_id, r.n_examples, r.loss_before, r.metrics


def test_results_pack_into_stacks_and_back():
    """What an actor sends: one [K, ...] array per tensor, nested extras (SCAFFOLD's delta_c) included."""
    w = torch.arange(6.0).reshape(2, 3)
    results = [
        ClientResult(3 + i, 5, {"w": w + i}, 0.5 * i, {"train_loss": float(i)}, {"delta_c": {"w": w * i}})
        for i in range(3)
    ]
    packed = pack_results(results)
    assert packed.fallback is None and packed.params["w"].shape == (3, 2, 3)
    assert packed.extra[("delta_c", "w")].shape == (3, 2, 3)
    back = unpack_results(packed)
    for a, b in zip(results, back, strict=True):
        assert _fields(a) == _fields(b)
        assert torch.equal(a.params["w"], b.params["w"])
        assert torch.equal(a.extra["delta_c"]["w"], b.extra["delta_c"]["w"])


def test_results_that_do_not_stack_travel_as_they_are():
    w = torch.ones(2, 3)
    ragged = [ClientResult(1, 2, {"w": w}), ClientResult(2, 0, {"w": torch.zeros(3)})]
    packed = pack_results(ragged)
    assert packed.fallback is not None
    for a, b in zip(ragged, unpack_results(packed), strict=True):
        assert torch.equal(a.params["w"], b.params["w"])
    odd = [ClientResult(1, 1, {"w": w}, extra={"note": "x"}), ClientResult(2, 1, {"w": w}, extra={"note": "y"})]
    assert [r.extra for r in unpack_results(pack_results(odd))] == [{"note": "x"}, {"note": "y"}]
    half = [ClientResult(1, 1, {"w": w.to(torch.bfloat16)}), ClientResult(2, 1, {"w": w.to(torch.bfloat16)})]
    assert pack_results(half).fallback is not None


def test_each_actor_receives_only_its_clients_rows():
    import numpy as np

    from tandem.data.clients import PartitionedData
    from tandem.sim.ray_backend import ShardedData, shard_data

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 5)).astype(np.float32), rng.integers(0, 3, 300)
    data = PartitionedData.from_arrays(x, y, 10, alpha=0.5, seed=0, local_eval_fraction=0.2)
    shards = shard_data(data, 3)
    assert all(isinstance(s, ShardedData) for s in shards)
    assert sum(len(s.y) for s in shards) == len(np.unique(np.concatenate([*data.parts, *data.eval_parts])))
    ids = np.arange(10)
    for w, shard in enumerate(shards):
        mine = ids % 3 == w
        assert shard.n_clients == 10
        assert (shard.sizes(ids) == np.where(mine, data.sizes(ids), 0)).all()
        for view, full in ((shard.round_view(ids), data.round_view(ids)),
                           (shard.local_eval_view(ids), data.local_eval_view(ids))):
            for k in range(10):
                expected = full.X[full.rows[k]] if mine[k] else full.X[:0]
                assert torch.equal(view.X[view.rows[k]], expected)
                assert torch.equal(view.y[view.rows[k]], full.y[full.rows[k]] if mine[k] else full.y[:0])
    assert shard_data(data, 1) == [data]
