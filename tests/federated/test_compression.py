"""Uplink compression: top-k with error feedback, bytes from real payloads, the server rebuilding parameters."""

from __future__ import annotations

import pytest
import torch

from tandem.core.envelope import encode_state
from tandem.core.errors import PayloadError
from tandem.federated.compression import CompressedUplink, params_from_payload
from tandem.federated.strategy import ClientResult


def test_topk_error_feedback_delivers_the_residual_later():
    g = {"w": torch.zeros(100)}
    u = torch.zeros(100)
    u[:10] = torch.arange(1.0, 11.0)  # ten non-zero entries, top-1 per round
    hook = CompressedUplink("topk", k=1)
    sent = torch.zeros(100)
    for rnd in range(1, 11):
        upd = u if rnd == 1 else torch.zeros(100)
        out = hook.transform(rnd, g, ClientResult(7, 1, {"w": g["w"] + upd}))
        sent += out.params["w"]
    assert torch.allclose(sent, u)  # every entry arrives exactly once, largest first
    assert float(hook.residuals_[7].abs().sum()) == 0.0
    no_ef = CompressedUplink("topk", k=1, error_feedback=False)
    out = no_ef.transform(1, g, ClientResult(7, 1, {"w": u.clone()}))
    assert float(out.params["w"].sum()) == 10.0 and not no_ef.residuals_


def test_bytes_are_real_payload_sizes_and_server_rebuilds_params():
    g = {"w": torch.zeros(50, 40), "b": torch.zeros(10)}
    res = ClientResult(3, 5, {"w": torch.randn(50, 40), "b": torch.randn(10)})
    hook = CompressedUplink("topk", fraction=0.01)
    out = hook(1, g, [res])[0]
    assert hook.dense_bytes_by_round_[1] / hook.bytes_by_round_[1] > 10
    payload = encode_state({"update": torch.cat([out.params["w"].reshape(-1), out.params["b"]])}, "fp32")
    rebuilt = params_from_payload(payload, g, ["w", "b"])
    assert torch.equal(rebuilt["w"], out.params["w"])
    with pytest.raises(PayloadError, match="values"):
        params_from_payload(encode_state({"update": torch.zeros(3)}, "fp32"), g, ["w", "b"])
    state = hook.state_dict()
    fresh = CompressedUplink("topk", fraction=0.01)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.residuals_[3], hook.residuals_[3])
