"""The simulator's fast paths give exactly what the per-item reference calls give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.core.link import Link
from tandem.core.messages import ClientUpdate
from tandem.federated.strategy import ClientResult
from tandem.federated.wire import decode_result, encode_result, encode_results
from tandem.transport.inprocess import InProcessTransport


def _results(k: int, *, extra: bool = False, seed: int = 0) -> list[ClientResult]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in range(k):
        params = {"0.weight": torch.randn(5, 3, generator=g), "0.bias": torch.randn(5, generator=g)}
        ex = {"delta_c": {"0.weight": torch.randn(5, 3, generator=g)}} if extra else {}
        out.append(ClientResult(10 + c, 3 + c, params, loss_before=0.5 if c % 2 else None,
                                metrics={"train_loss": 0.1 * c}, extra=ex))
    return out


@pytest.mark.parametrize("extra", [False, True])
def test_encode_results_equals_encode_result_byte_for_byte(extra: bool) -> None:
    results = _results(6, extra=extra)
    fast = encode_results(4, results)
    slow = [encode_result(4, r) for r in results]
    for a, b in zip(fast, slow, strict=True):
        assert a.payload == b.payload
        assert (a.device_id, a.round, a.n_examples, dict(a.metrics)) == (b.device_id, b.round, b.n_examples,
                                                                        dict(b.metrics))
    # decoded from fresh bytes objects (no memo): the same tensors
    for a, r in zip(fast, results, strict=True):
        fresh = ClientUpdate(a.device_id, a.round, a.n_examples, bytes(bytearray(a.payload)), a.metrics)
        got = decode_result(fresh)
        for key, value in r.params.items():
            assert torch.equal(got.params[key], value)


def test_encode_results_falls_back_for_non_finite_and_other_codecs() -> None:
    results = _results(3)
    results[1].params["0.bias"][0] = float("nan")
    from tandem.core.errors import PayloadError

    with pytest.raises(PayloadError):
        encode_results(1, results)
    fp16 = encode_results(1, _results(3), codec="fp16")
    assert [u.payload for u in fp16] == [encode_result(1, r, codec="fp16").payload for r in _results(3)]


def test_receive_many_on_device_equals_one_by_one() -> None:
    def transport() -> InProcessTransport:
        t = InProcessTransport(None, link=Link.instant(20))
        t.broadcast(np.array([3, 5, 7, 11]), "plan", b"one", {"round": 1})
        t.send_to_device(5, "plan", b"direct", {"round": 1})
        t.broadcast(np.array([5, 11, 12]), "plan", b"two", {"round": 1})
        t.broadcast(np.array([3, 12]), "other", b"x", {})
        return t

    ids = np.array([12, 5, 3, 4])
    many = transport().receive_many_on_device(ids, "plan")
    one = transport()
    single = [one.receive_on_device(int(d), "plan") for d in ids]
    assert [[(m.device_id, m.payload, m.arrives_at) for m in ms] for ms in many] == [
        [(m.device_id, m.payload, m.arrives_at) for m in ms] for ms in single
    ]
    t = transport()
    t.receive_many_on_device(ids, "plan")
    assert [m.payload for m in t.receive_on_device(3)] == [b"x"]  # other kinds stay
    assert [m.payload for m in t.receive_on_device(11, "plan")] == [b"one", b"two"]
