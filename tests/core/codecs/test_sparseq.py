"""``sparseq`` codec: exact index round trips, value codes, byte accounting, tampered payloads refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tandem.core.codecs import get_codec, topk_indices
from tandem.core.codecs.sparseq import (
    decode_indices,
    encode_indices,
    pack_codes,
    quantize_symmetric,
    unpack_codes,
    varint_decode,
    varint_encode,
)
from tandem.core.envelope import decode_state, encode_state, read_header
from tandem.core.errors import ConfigError, PayloadError


def test_varint_known_bytes_and_round_trip_at_boundaries():
    assert varint_encode(np.array([0, 1, 127, 128, 300])) == b"\x00\x01\x7f\x80\x01\xac\x02"
    values = np.array([0, 127, 128, 16383, 16384, 2**35 + 5, 2**62], dtype=np.uint64)
    buf = varint_encode(values)
    assert len(buf) == 1 + 1 + 2 + 2 + 3 + 6 + 9
    assert varint_decode(buf, values.size).tolist() == values.tolist()
    assert varint_encode(np.zeros(0)) == b"" and varint_decode(b"", 0).size == 0


def test_varint_decode_rejects_truncation_and_wrong_count():
    buf = varint_encode(np.array([5, 300]))
    with pytest.raises(PayloadError, match="exactly 2"):
        varint_decode(buf[:-1], 2)  # ends inside a varint
    with pytest.raises(PayloadError, match="exactly 3"):
        varint_decode(buf, 3)
    with pytest.raises(PayloadError, match="longer than"):
        varint_decode(b"\xff" * 10 + b"\x01", 1)


@pytest.mark.parametrize("how", ["bitmask", "delta", "auto"])
@pytest.mark.parametrize("numel,k", [(1, 1), (13, 5), (4810, 481), (4810, 4810), (70000, 30)])
def test_indices_round_trip_exactly(how, numel, k):
    idx = np.sort(np.random.default_rng(numel + k).choice(numel, size=k, replace=False)).astype(np.int64)
    kind, buf = encode_indices(idx, numel, how)
    assert kind == (how if how != "auto" else kind)
    assert np.array_equal(decode_indices(kind, buf, numel, k), idx)
    if kind == "bitmask":
        assert len(buf) == math.ceil(numel / 8)


def test_auto_index_encoding_picks_the_smaller():
    sparse = np.arange(0, 100000, 1000)  # gaps of 999: two varint bytes each, far below n/8
    kind, buf = encode_indices(sparse, 100000, "auto")
    assert kind == "delta" and len(buf) == 1 + 2 * 99
    dense = np.arange(0, 1000, 2)  # half the entries: a bitmask beats one byte per index
    kind, buf = encode_indices(dense, 1000, "auto")
    assert kind == "bitmask" and len(buf) == 125


def test_decode_indices_rejects_malformed_blocks():
    kind, buf = encode_indices(np.array([1, 4]), 10, "bitmask")
    with pytest.raises(PayloadError, match="spec says k=3"):
        decode_indices(kind, buf, 10, 3)
    with pytest.raises(PayloadError, match="past the tensor's end"):
        decode_indices("bitmask", bytes([0, 0b00100000]), 10, 1)  # bit for entry 10 of a 10-entry tensor
    with pytest.raises(PayloadError, match="out of range"):
        decode_indices("delta", varint_encode(np.array([3, 7])), 10, 2)  # 3, 11
    with pytest.raises(PayloadError, match="unknown index encoding"):
        decode_indices("rle", b"", 10, 0)


@pytest.mark.parametrize("bits", [8, 4])
def test_value_codes_pack_one_or_two_per_byte(bits):
    codes = quantize_symmetric(np.random.default_rng(0).normal(size=101), bits)[0]
    assert np.array_equal(unpack_codes(pack_codes(codes, bits), bits, codes.size), codes)
    assert len(pack_codes(codes, bits)) == (101 if bits == 8 else 51)


@pytest.mark.parametrize("bits,index", [(8, "auto"), (4, "delta"), (8, "bitmask")])
def test_codec_keeps_exactly_the_topk_and_counts_its_bytes(bits, index):
    x = torch.randn(3001)
    codec = get_codec("sparseq", fraction=0.1, bits=bits, index=index)
    payload = encode_state({"u": x}, codec)
    back = decode_state(payload)[0]["u"]
    top = topk_indices(x, 301).numpy()
    assert set(np.flatnonzero(back.numpy())) <= set(top)  # a value may round to 0, never a new index
    s, scale = (1 << (bits - 1)) - 1, float(x[top].abs().max())
    assert float((back[top] - x[top]).abs().max()) <= scale / (2 * s) + 1e-6
    outside = np.setdiff1d(np.arange(3001), top)
    assert float(back[outside].abs().max()) == 0.0
    header = read_header(payload)
    kind, index_bytes = encode_indices(top, 3001, index)
    assert header.tensors[0]["ix"] == kind
    assert header.body_bytes == 4 + len(index_bytes) + (301 if bits == 8 else 151)
    assert len(payload) == header.wire_bytes


def test_codec_rejects_tampered_entries_and_bad_config():
    codec = get_codec("sparseq", k=3)
    spec, body = codec.encode_tensor("u", torch.tensor([0.0, 5.0, -1.0, 2.0, 0.5]))
    assert spec["k"] == 3
    with pytest.raises(PayloadError, match="does not fit"):
        codec.decode_tensor("u", {**spec, "k": 9}, body, (5,), torch.float32)
    with pytest.raises(PayloadError, match="code out of range"):
        codec.decode_tensor("u", spec, body[:-1] + b"\x80", (5,), torch.float32)  # int8 -128
    with pytest.raises(PayloadError, match="scale"):
        codec.decode_tensor("u", spec, np.float32("nan").tobytes() + body[4:], (5,), torch.float32)
    with pytest.raises(PayloadError, match="unknown index encoding"):
        codec.decode_tensor("u", {**spec, "ix": "rle"}, body, (5,), torch.float32)
    bad_configs = ({}, {"k": 1, "fraction": 0.5}, {"k": 0}, {"fraction": 1.5}, {"k": 1, "bits": 2})
    for bad in (*bad_configs, {"k": 1, "index": "rle"}, {"k": 1, "rounding": "up"}):
        with pytest.raises(ConfigError):
            get_codec("sparseq", **bad)
