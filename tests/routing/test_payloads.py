import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.core.messages import InferenceResponse
from tandem.routing.payloads import (
    PayloadSizer,
    decode_next,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)


def test_round_trip_and_sizes_are_real() -> None:
    req = encode_request(3, "r1", np.array([0, 0, 4, 9]))
    assert decode_request(req).tolist() == [4, 9]
    resp = encode_response("r1", torch.tensor([5, 2, 0]), torch.tensor([-1.0, -2.5, float("-inf")]))
    ids, logp = decode_response(resp)
    assert ids.tolist() == [5, 2] and logp.tolist() == pytest.approx([-1.0, -2.5], abs=1e-3)
    sizer = PayloadSizer()
    assert sizer.request_bytes(np.array([2, 2]))[0] == len(req.payload)
    assert sizer.response_bytes(np.array([2]))[0] == len(resp.payload)
    assert sizer.request_bytes(np.array([50]))[0] > sizer.request_bytes(np.array([2]))[0]
    with pytest.raises(ConfigError):
        encode_request(0, "x", np.array([-1]))
    with pytest.raises(PayloadError):
        decode_response(InferenceResponse("x", req.payload))


def test_anticipatory_answers_round_trip_and_cost_their_real_size() -> None:
    items = torch.tensor([7, 3, 9])
    n_ids = torch.tensor([[1, 2], [4, 5], [6, 0]])
    n_logp = torch.tensor([[-1.0, -2.0], [-0.5, -3.0], [-1.5, float("-inf")]])
    response = encode_response("r", torch.tensor([3, 1]), torch.tensor([-0.1, -2.0]), (items, n_ids, n_logp))
    ids, _ = decode_response(response)
    assert ids.tolist() == [3, 1]
    got = decode_next(response)
    assert got is not None and torch.equal(got[0], items) and torch.equal(got[1], n_ids)
    assert torch.allclose(got[2][:, 0], n_logp[:, 0], atol=1e-3) and got[2][2, 1] < -1e3  # -inf travels as -1e4
    assert decode_next(encode_response("r", torch.tensor([3]), torch.tensor([-0.1]))) is None
    sizer = PayloadSizer()
    plain = sizer.response_bytes(np.array([2]))
    real = len(response.payload) - len(encode_response("r", torch.tensor([3, 1]), torch.tensor([-0.1, -2.0])).payload)
    assert abs((sizer.response_bytes(np.array([2]), 3, 2) - plain)[0] - real) <= 4  # header text varies by a byte
    with pytest.raises(ConfigError, match="anticipated"):
        encode_response("r", torch.tensor([3]), torch.tensor([-0.1]), (items, n_ids[:2], n_logp[:2]))
