import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.core.messages import InferenceResponse
from tandem.routing.payloads import (
    PayloadSizer,
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
