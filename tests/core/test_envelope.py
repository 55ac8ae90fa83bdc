"""The envelope: self-describing round trips, and a clear PayloadError for every malformation."""

import json
import math
import random
import struct
import zlib

import pytest
import torch

from tandem.core import PayloadError, decode_state, encode_state, get_codec, read_header
from tandem.core.envelope import FORMAT_VERSION, MAGIC, MIN_SIZE


def _state():
    g = torch.Generator().manual_seed(1)
    return {
        "fc.weight": torch.randn(8, 6, generator=g),
        "fc.bias": torch.randn(8, generator=g),
        "step": torch.tensor(3),
    }


def _split(payload: bytes):
    magic, version, flags, reserved, hlen, blen = struct.unpack_from("<4sBBHIQ", payload)
    header = payload[20 : 20 + hlen]
    body = payload[20 + hlen : 20 + hlen + blen]
    return (magic, version, flags, reserved), header, body


def _frame(prefix, header: bytes, body: bytes) -> bytes:
    """Re-frame with a valid CRC, so a test reaches the check after the checksum."""
    magic, version, flags, reserved = prefix
    framed = struct.pack("<4sBBHIQ", magic, version, flags, reserved, len(header), len(body)) + header + body
    return framed + struct.pack("<I", zlib.crc32(framed))


def _edit_header(payload: bytes, edit) -> bytes:
    prefix, header, body = _split(payload)
    obj = json.loads(header)
    edit(obj)
    return _frame(prefix, json.dumps(obj).encode(), body)


def test_round_trip_with_meta_and_header_fields():
    state = _state()
    payload = encode_state(state, "fp32", meta={"model_id": "rec-small", "version": 7, "kind": "delta"})
    out, meta = decode_state(payload)
    assert meta == {"model_id": "rec-small", "version": 7, "kind": "delta"}
    assert all(torch.equal(out[k], state[k]) for k in state)
    h = read_header(payload)
    assert payload[:4] == MAGIC == b"TNDM" and payload[4] == FORMAT_VERSION == h.version
    assert h.codec == "fp32" and h.compression is None and h.wire_bytes == len(payload)
    assert [(t["name"], t["shape"], t["dtype"]) for t in h.tensors] == [
        ("fc.weight", [8, 6], "float32"),
        ("fc.bias", [8], "float32"),
        ("step", [], "int64"),
    ]
    assert h.body_bytes == 8 * 6 * 4 + 8 * 4 + 8


def test_codec_params_travel_and_codec_decode_checks_the_writer():
    codec = get_codec("topk", k=3, values="fp16", compress="zstd")
    payload = codec.encode(_state(), meta={"round": 2})
    h = read_header(payload)
    assert (h.codec, h.compression, h.meta) == ("topk", "zstd", {"round": 2})
    assert h.params == {"k": 3, "fraction": None, "values": "fp16"}
    assert int((codec.decode(payload)["fc.weight"] != 0).sum()) == 3
    with pytest.raises(PayloadError, match="encoded with codec 'topk', not 'fp32'"):
        get_codec("fp32").decode(payload)


@pytest.mark.parametrize("compress", [None, "zstd"])
def test_truncation_at_any_offset_is_a_payload_error(compress):
    payload = encode_state(_state(), "int8", compress=compress)
    body_at = read_header(payload).body_offset
    n = len(payload)
    for cut in sorted({0, 1, 3, 4, 5, 12, 19, 20, 21, body_at - 1, body_at, body_at + 7, n - 4, n - 1}):
        with pytest.raises(PayloadError, match="truncated"):
            decode_state(payload[:cut])


def test_wrong_magic_unsupported_version_and_unknown_flags():
    payload = bytearray(encode_state(_state()))
    with pytest.raises(PayloadError, match="wrong magic at offset 0"):
        decode_state(b"PK\x03\x04" + bytes(payload[4:]))
    with pytest.raises(PayloadError, match="wrong magic"):
        decode_state(b"hello")
    prefix, header, body = _split(bytes(payload))
    with pytest.raises(PayloadError, match="unsupported format version 9 at offset 4"):
        decode_state(_frame((prefix[0], 9, *prefix[2:]), header, body))
    with pytest.raises(PayloadError, match="unknown flags"):
        decode_state(_frame((prefix[0], prefix[1], 0x80, 0), header, body))
    with pytest.raises(PayloadError, match="trailing bytes"):
        decode_state(bytes(payload) + b"\0")


def test_any_flipped_byte_is_caught():
    payload = encode_state(_state(), "fp16", compress="zstd")
    h = read_header(payload)
    for pos in (h.body_offset, h.body_offset + 10, len(payload) - 5, 30, len(payload) - 1):
        bad = bytearray(payload)
        bad[pos] ^= 0x01
        with pytest.raises(PayloadError, match="checksum mismatch"):
            decode_state(bytes(bad))
    for pos in range(MIN_SIZE - 4):  # in the prefix every field is checked before the CRC
        bad = bytearray(payload)
        bad[pos] ^= 0x01
        with pytest.raises(PayloadError):
            decode_state(bytes(bad))


def test_header_that_is_not_json_or_lies_about_sizes():
    payload = encode_state(_state())
    prefix, header, body = _split(payload)
    with pytest.raises(PayloadError, match=r"header at offsets 20\.\.25 is not valid UTF-8 JSON"):
        decode_state(_frame(prefix, b"{nope", body))
    with pytest.raises(PayloadError, match="not a JSON object"):
        decode_state(_frame(prefix, b"[1, 2]", body))
    with pytest.raises(PayloadError, match="body_bytes"):
        decode_state(_frame(prefix, header, body + b"\0\0\0\0"))

    def move_bytes(obj):  # sizes still sum to body_bytes, but the first entry is 4 bytes short
        obj["tensors"][0]["nbytes"] -= 4
        obj["tensors"][1]["nbytes"] += 4

    with pytest.raises(PayloadError, match=r"tensor 'fc.weight' \(body bytes 0..188\): expected 192 raw bytes"):
        decode_state(_edit_header(payload, move_bytes))

    def bad_shape(obj):
        obj["tensors"][1]["shape"] = [-1]

    with pytest.raises(PayloadError, match="shape"):
        decode_state(_edit_header(payload, bad_shape))
    with pytest.raises(PayloadError, match="unsupported dtype 'complex64'"):
        decode_state(_edit_header(payload, lambda o: o["tensors"][0].update(dtype="complex64")))
    with pytest.raises(PayloadError, match="cannot be built"):
        decode_state(_edit_header(payload, lambda o: o.update(codec="nope")))
    with pytest.raises(PayloadError, match="non-finite"):
        decode_state(_frame(prefix, header.replace(b'"meta":{}', b'"meta":{"x":NaN}'), body))


def test_nan_decoded_is_a_payload_error_naming_the_tensor():
    x = torch.tensor([1.0, math.nan])
    payload = encode_state({"w": x}, get_codec("fp32", allow_nonfinite=True))
    assert decode_state(payload)[0]["w"].isnan()[1]
    tampered = _edit_header(payload, lambda o: o.update(allow_nonfinite=False))
    with pytest.raises(PayloadError, match=r"tensor 'w' .*1 NaN/Inf values \(first at flat index 1\)"):
        decode_state(tampered)


def test_crafted_entries_are_payload_errors_not_crashes():
    payload = encode_state({"w": torch.randn(4, 4)}, get_codec("topk", k=2))
    prefix, header, body = _split(payload)
    bad_idx = bytes([200]) + body[1:]  # uint8 index 200 in a 16-entry tensor
    with pytest.raises(PayloadError, match=r"'w'.*indices"):
        decode_state(_frame(prefix, header, bad_idx))
    with pytest.raises(PayloadError, match=r"'w'.*topk entry"):
        decode_state(_edit_header(payload, lambda o: o["tensors"][0].update(k=3)))
    with pytest.raises(PayloadError, match="encoding 'int8'"):
        decode_state(_edit_header(payload, lambda o: o["tensors"][0].update(enc="int8")))
    zipped = encode_state({"w": torch.zeros(1000)}, compress="zstd")
    prefix, header, body = _split(zipped)
    with pytest.raises(PayloadError, match="zstd"):
        decode_state(_frame(prefix, header, body[:-3] + b"\xff\xff\xff"))


def test_size_guards():
    state = {"w": torch.zeros(1000)}
    with pytest.raises(PayloadError, match="over max_bytes=1000"):
        encode_state(state, max_bytes=1000)
    payload = encode_state(state)
    with pytest.raises(PayloadError, match="over max_bytes=1000"):
        decode_state(payload, max_bytes=1000)
    with pytest.raises(PayloadError, match="max_decoded_bytes"):
        decode_state(payload, max_decoded_bytes=3999)
    bomb = _edit_header(payload, lambda o: o["tensors"][0].update(shape=[10**12]))
    with pytest.raises(PayloadError, match="max_decoded_bytes"):
        decode_state(bomb)


def test_bad_state_or_meta_is_refused_at_encode():
    with pytest.raises(PayloadError, match=r"state\['w'\] is a list"):
        encode_state({"w": [1.0, 2.0]})
    with pytest.raises(PayloadError, match="not a string"):
        encode_state({3: torch.zeros(1)})
    with pytest.raises(PayloadError, match="meta is not JSON"):
        encode_state({"w": torch.zeros(1)}, meta={"when": object()})
    with pytest.raises(PayloadError, match="unsupported dtype 'complex64'"):
        encode_state({"z": torch.zeros(2, dtype=torch.complex64)})
    with pytest.raises(PayloadError, match="payload must be bytes"):
        decode_state("TNDM")


def test_fuzzed_payloads_with_valid_checksums_decode_or_raise_payload_error():
    """Tampering that keeps the CRC valid (a hostile sender) still never crashes the decoder."""
    rng = random.Random(0)
    codecs = [get_codec("fp16", compress="zstd"), get_codec("int8"), get_codec("topk", k=4), get_codec("bitmask")]
    junk = [0, -1, 10**9, "x", None, [1], 2.5, True, [3, 3], "float16", "raw", "int8"]
    outcomes = set()
    for _ in range(400):
        codec = rng.choice(codecs)
        state = {"m": torch.arange(12) % 2 == 0} if codec.name == "bitmask" else _state()
        prefix, header, body = _split(encode_state(state, codec))
        if rng.random() < 0.5:
            obj = json.loads(header)
            entry = rng.choice(obj["tensors"])
            entry[rng.choice(list(entry))] = rng.choice(junk)
            header = json.dumps(obj).encode()
        else:
            body = bytearray(body)
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body)
        try:
            decode_state(_frame(prefix, header, body))
            outcomes.add("decoded")
        except PayloadError:
            outcomes.add("rejected")
    assert "rejected" in outcomes
