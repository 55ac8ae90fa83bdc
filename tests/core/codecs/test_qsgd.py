"""``qsgd`` codec: payload size and error bound, bad configs and tampered bodies refused."""

from __future__ import annotations

import pytest
import torch

from tandem.core.codecs import get_codec
from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError


@pytest.mark.parametrize("bits,ratio", [(8, 3.5), (4, 6.5)])
def test_qsgd_codec_payload_size_and_error(bits, ratio):
    x = torch.randn(10000)
    dense = len(encode_state({"u": x}, "fp32"))
    payload = encode_state({"u": x}, get_codec("qsgd", bits=bits, seed=0))
    assert dense / len(payload) > ratio
    back = decode_state(payload)[0]["u"]
    assert back.shape == x.shape and float((back - x).abs().max()) <= float(x.abs().max()) / ((1 << (bits - 1)) - 1)


def test_qsgd_rejects_bad_config_and_tampered_body():
    with pytest.raises(ConfigError):
        get_codec("qsgd", bits=3)
    codec = get_codec("qsgd", bits=8)
    spec, body = codec.encode_tensor("u", torch.ones(10))
    with pytest.raises(PayloadError, match="needs 1 buckets"):
        codec.decode_tensor("u", spec, body[:-1], (10,), torch.float32)
