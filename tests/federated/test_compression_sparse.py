"""``sparseq`` uplinks: error-feedback bookkeeping and bytes counted from the real payloads."""

from __future__ import annotations

import torch

from tandem.core.envelope import encode_state
from tandem.federated.compression import CompressedUplink
from tandem.federated.strategy import ClientResult


def test_error_feedback_residual_bookkeeping_is_exact():
    g = {"w": torch.zeros(40, 20), "b": torch.zeros(20)}
    hook = CompressedUplink("sparseq", fraction=0.05, bits=4)
    rng = torch.Generator().manual_seed(0)
    total_u, total_sent = torch.zeros(820), torch.zeros(820)
    for rnd in range(1, 16):
        upd = {"w": torch.randn(40, 20, generator=rng), "b": torch.randn(20, generator=rng)}
        before = hook.residuals_.get(5, torch.zeros(820)).clone()
        out = hook.transform(rnd, g, ClientResult(5, 3, {k: g[k] + v for k, v in upd.items()}))
        u = torch.cat([upd["w"].reshape(-1), upd["b"]])
        sent = torch.cat([out.params["w"].reshape(-1), out.params["b"]])
        assert torch.equal(hook.residuals_[5], (u + before) - sent)  # residual = what was not delivered
        assert int((sent != 0).sum()) <= 41
        total_u += u
        total_sent += sent
    # nothing is lost: every update is either delivered or still owed in the residual
    assert torch.allclose(total_sent + hook.residuals_[5], total_u, atol=1e-4)
    kept = torch.nonzero(sent).reshape(-1)
    assert float(hook.residuals_[5][kept].abs().max()) > 0  # the int4 rounding error is fed back too


def test_uplink_bytes_are_the_payload_sizes_and_beat_fp32_tenfold():
    g = {"w": torch.zeros(4810)}
    hook = CompressedUplink("sparseq", fraction=0.1, bits=8)
    results = [ClientResult(c, 10, {"w": torch.randn(4810)}) for c in range(3)]
    outs = hook(7, g, results)
    expected = 0
    for res in results:
        meta = {"kind": "update", "round": 7, "client": res.client_id, "n_examples": 10}
        expected += len(encode_state({"update": res.params["w"]}, hook.codec, meta=meta))
    assert hook.bytes_by_round_[7] == expected
    assert hook.dense_bytes_by_round_[7] / hook.bytes_by_round_[7] > 10
    assert all(int((o.params["w"] != 0).sum()) <= 481 for o in outs)
