"""Codecs: exact where promised, within the stated bound where lossy, lossless on non-float tensors."""

import math

import pytest
import torch

from tandem.core import ConfigError, PayloadError, decode_state, encode_state, get_codec, read_header
from tandem.core.codecs import (
    Codec,
    available_codecs,
    fp16_error_bound,
    index_dtype,
    quantize_int8,
    register_codec,
    topk_indices,
)
from tandem.core.codecs import base as codecs_base

FLOAT_CODECS = ["fp32", "fp16", "int8", {"name": "topk", "fraction": 0.1}]


def _codec(spec):
    if isinstance(spec, dict):
        spec = dict(spec)
        return get_codec(spec.pop("name"), **spec)
    return get_codec(spec)


def roundtrip(state, codec, **kwargs):
    payload = encode_state(state, codec if isinstance(codec, Codec) else _codec(codec), **kwargs)
    decoded, _ = decode_state(payload)
    return decoded, payload


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_registry_lists_builds_and_rejects():
    assert {"fp32", "fp16", "int8", "topk", "bitmask"} <= set(available_codecs())
    assert get_codec("fp16", compress="zstd").compress == "zstd"
    with pytest.raises(ConfigError, match="unknown codec 'nope'"):
        get_codec("nope")
    with pytest.raises(ConfigError, match="fp32"):
        get_codec("fp32", bogus=1)
    with pytest.raises(ConfigError, match="compress"):
        get_codec("fp32", compress="gzip")
    with pytest.raises(ConfigError, match="already registered"):

        @register_codec
        class Other(Codec):
            name = "fp32"

            def encode_tensor(self, name, tensor): ...
            def decode_tensor(self, name, spec, buf, shape, dtype): ...


def test_a_registered_codec_works_through_the_envelope(gen, monkeypatch):
    monkeypatch.setattr(codecs_base, "_REGISTRY", dict(codecs_base._REGISTRY))

    @register_codec
    class Negate(Codec):
        name = "test_negate"

        def encode_tensor(self, name, tensor):
            return {"enc": self.name}, (-tensor.float()).numpy().tobytes()

        def decode_tensor(self, name, spec, buf, shape, dtype):
            return -torch.frombuffer(bytearray(buf), dtype=torch.float32).reshape(shape).to(dtype)

    x = torch.randn(3, 4, generator=gen)
    out, _ = roundtrip({"x": x}, "test_negate")
    assert torch.equal(out["x"], x)


def test_fp32_is_exact_for_every_dtype_up_to_32_bits(gen):
    state = {
        "w": torch.randn(17, 5, generator=gen),
        "half": torch.randn(4, generator=gen).half(),
        "bf": torch.randn(4, generator=gen).bfloat16(),
        "steps": torch.tensor(123456789012, dtype=torch.int64),
        "mask": torch.rand(9, generator=gen) > 0.5,
        "u8": torch.arange(7, dtype=torch.uint8),
        "i32": torch.arange(-3, 3, dtype=torch.int32),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5),
    }
    out, payload = roundtrip(state, "fp32")
    assert list(out) == list(state)
    for k, v in state.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape and torch.equal(out[k], v), k
    assert len(payload) >= 17 * 5 * 4  # raw fp32 body is in there, nothing estimated


def test_fp32_narrows_float64_to_float32_and_keeps_the_dtype(gen):
    x = torch.randn(50, generator=gen, dtype=torch.float64)
    out, _ = roundtrip({"x": x}, "fp32")
    assert out["x"].dtype == torch.float64
    assert torch.equal(out["x"], x.float().double())


def test_fp16_stays_within_its_stated_bound_across_magnitudes(gen):
    mags = 10.0 ** torch.linspace(-9, 4.5, 4000, dtype=torch.float64)
    x = mags * torch.sign(torch.randn(4000, generator=gen, dtype=torch.float64))
    for dtype in (torch.float64, torch.float32):
        xt = x.to(dtype)
        out, payload = roundtrip({"x": xt}, "fp16")
        assert out["x"].dtype == dtype
        err = (out["x"].double() - xt.double()).abs()
        assert torch.all(err <= fp16_error_bound(xt)), float((err / fp16_error_bound(xt)).max())
    assert len(payload) < 4000 * 2 + 400


def test_fp16_refuses_values_beyond_its_range():
    with pytest.raises(PayloadError, match=r"'big'.*float16|'big'.*fp16"):
        encode_state({"big": torch.tensor([1.0, 7e4])}, "fp16")


def test_int8_per_channel_bound_holds_and_is_a_quarter_of_fp32(gen):
    # channels on very different scales: per-channel scales keep the small ones accurate
    w = torch.randn(64, 128, generator=gen) * (10.0 ** torch.linspace(-4, 2, 64))[:, None]
    out, payload = roundtrip({"w": w}, "int8")
    _, scale, _ = quantize_int8(w, 0)
    assert scale.shape == (64,)
    err = (out["w"].double() - w.double()).abs()
    bound = scale.double()[:, None] / 2 + 2.0**-23 * w.double().abs()
    assert torch.all(err <= bound)
    assert torch.all(err.amax(dim=1) <= scale.double() / 2 * 1.001 + 1e-12)
    fp32_size = len(encode_state({"w": w}, "fp32"))
    assert len(payload) < fp32_size / 3.5


def test_int8_one_dim_is_per_tensor_and_edge_shapes_round_trip(gen):
    b = torch.randn(33, generator=gen)
    payload = encode_state({"b": b}, "int8")
    assert read_header(payload).tensors[0]["channels"] == 1
    out = decode_state(payload)[0]["b"]
    scale = (b.max() - b.min()) / 255
    assert float((out - b).abs().max()) <= float(scale) / 2 * 1.001
    const = torch.full((3, 4), 0.3)
    edge = {"c": const, "e1": torch.zeros(0, 5), "e2": torch.zeros(5, 0), "s": torch.tensor(-1.25)}
    out, _ = roundtrip(edge, "int8")
    assert torch.equal(out["c"], const)  # constant channel: scale 0, exact
    assert out["e1"].shape == (0, 5) and out["e2"].shape == (5, 0)
    assert float(out["s"]) == -1.25


@pytest.mark.parametrize("spec", FLOAT_CODECS)
def test_non_float_tensors_pass_every_float_codec_losslessly(spec, gen):
    state = {
        "w": torch.randn(20, 10, generator=gen),
        "num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "ids": torch.randint(-(2**40), 2**40, (50,), generator=gen),
        "mask": torch.rand(30, generator=gen) > 0.5,
    }
    out, _ = roundtrip(state, spec)
    for k in ("num_batches_tracked", "ids", "mask"):
        assert out[k].dtype == state[k].dtype and torch.equal(out[k], state[k]), k


@pytest.mark.parametrize("spec", [*FLOAT_CODECS, "bitmask"])
def test_nan_or_inf_in_encode_names_the_tensor(spec):
    bad = torch.ones(4, 4)
    bad[2, 1] = math.nan
    with pytest.raises(PayloadError, match=r"'layer\.weight'"):
        encode_state({"ok": torch.zeros(2), "layer.weight": bad}, _codec(spec))
    bad[2, 1] = math.inf
    with pytest.raises(PayloadError, match=r"'layer\.weight'"):
        encode_state({"layer.weight": bad}, _codec(spec))


def test_allow_nonfinite_carries_nan_where_the_codec_can():
    x = torch.tensor([1.0, math.nan, -math.inf])
    out, _ = roundtrip({"x": x}, get_codec("fp32", allow_nonfinite=True))
    assert torch.equal(out["x"].isnan(), x.isnan()) and out["x"][2] == -math.inf
    with pytest.raises(PayloadError, match="cannot represent"):
        encode_state({"x": x}, get_codec("int8", allow_nonfinite=True))


def test_topk_keeps_the_largest_magnitudes_exactly_and_zeros_the_rest(gen):
    x = torch.randn(40, 25, generator=gen)
    out, payload = roundtrip({"x": x}, get_codec("topk", k=50))
    kept = out["x"] != 0
    assert int(kept.sum()) == 50
    assert torch.equal(out["x"][kept], x[kept])
    assert float(x[~kept].abs().max()) <= float(x[kept].abs().min())
    entry = read_header(payload).tensors[0]
    assert entry["nbytes"] == 50 * (2 + 4)  # 1000 entries -> uint16 indices, fp32 values


def test_topk_fraction_fp16_values_and_index_dtypes(gen):
    x = torch.randn(10_000, generator=gen)
    out, payload = roundtrip({"x": x}, get_codec("topk", fraction=0.01, values="fp16"))
    kept = out["x"] != 0
    assert int(kept.sum()) == 100
    assert torch.all((out["x"][kept].double() - x[kept].double()).abs() <= fp16_error_bound(x[kept]))
    assert read_header(payload).tensors[0]["nbytes"] == 100 * (2 + 2)
    assert [index_dtype(n).itemsize for n in (1, 256, 257, 65536, 65537, 2**32 + 1)] == [1, 1, 2, 2, 4, 8]
    assert torch.equal(topk_indices(torch.tensor([0.1, -5.0, 3.0, 0.0]), 2), torch.tensor([1, 2]))
    tiny = torch.tensor([0.5])
    assert torch.equal(roundtrip({"t": tiny}, get_codec("topk", fraction=0.1))[0]["t"], tiny)


def test_topk_rejects_bad_configuration():
    for kwargs in ({}, {"k": 3, "fraction": 0.1}, {"k": 0}, {"fraction": 1.5}, {"k": 2, "values": "int4"}):
        with pytest.raises(ConfigError):
            get_codec("topk", **kwargs)


def test_bitmask_is_exact_one_bit_per_entry_and_keeps_dtypes(gen):
    state = {
        "m_bool": torch.rand(1000, generator=gen) > 0.3,
        "m_float": (torch.rand(7, 9, generator=gen) > 0.5).float(),
        "m_long": (torch.rand(13, generator=gen) > 0.5).long(),
    }
    out, payload = roundtrip(state, "bitmask")
    for k, v in state.items():
        assert out[k].dtype == v.dtype and torch.equal(out[k], v), k
    sizes = [t["nbytes"] for t in read_header(payload).tensors]
    assert sizes == [125, 8, 2]  # ceil(n / 8)


def test_bitmask_rejects_non_binary_input_unless_told_to_send_it_raw():
    with pytest.raises(PayloadError, match=r"'scores' is not binary: 0\.5 at flat index 2"):
        encode_state({"ok": torch.ones(3) > 0, "scores": torch.tensor([0.0, 1.0, 0.5])}, "bitmask")
    scores = torch.tensor([0.0, 1.0, 0.5])
    out, _ = roundtrip({"scores": scores}, get_codec("bitmask", nonbinary="raw"))
    assert torch.equal(out["scores"], scores)
    with pytest.raises(ConfigError):
        get_codec("bitmask", nonbinary="round")


@pytest.mark.parametrize("spec", [*FLOAT_CODECS, "bitmask"])
def test_zstd_actually_shrinks_a_compressible_payload(spec):
    state = {"w": torch.zeros(256, 256), "m": torch.zeros(4096, dtype=torch.bool)}
    plain = encode_state(state, _codec(spec))
    packed = encode_state(state, _codec(spec), compress="zstd")
    assert read_header(packed).compression == "zstd"
    assert len(packed) < len(plain) * 0.8
    out, _ = decode_state(packed)
    assert all(torch.equal(out[k], state[k]) for k in state)


def test_uplink_codecs_decode_in_a_process_that_never_imported_federated() -> None:
    """The server decodes sparseq/qsgd uplinks with tandem.core alone: every quantizer lives in core."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from tandem.core.envelope import decode_state, encode_state\n"
        "from tandem.core.codecs import get_codec\n"
        "state = {'w': torch.arange(40, dtype=torch.float32).reshape(4, 10)}\n"
        "for codec in (get_codec('sparseq', fraction=0.25, bits=8), get_codec('qsgd', bits=4, seed=0)):\n"
        "    decoded, _ = decode_state(encode_state(state, codec))\n"
        "    assert decoded['w'].shape == (4, 10), decoded\n"
        "assert not any(m.startswith('tandem.federated') for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
