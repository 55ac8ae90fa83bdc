"""The Ray backend's result packing (no Ray needed): K results <-> one stacked array per tensor."""

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
