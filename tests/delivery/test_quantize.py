import pytest
import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.quantize import (
    SEP,
    channel_axis,
    dequantize_state,
    int8_payload,
    load_int8_payload,
    pack_int8,
    quantize_state,
    quantized_copy,
    unpack_int8,
)
from tandem.models.seqrec import build_seqrec


@pytest.mark.parametrize("shape,axis", [((64, 64), 0), ((12000, 16), 1), ((3, 5), None), ((300,), None)])
def test_channel_axis_keeps_side_information_small(shape, axis):
    assert channel_axis(shape) == axis




def test_state_round_trip_keeps_small_tensors_exact_and_shapes():
    model = build_seqrec("sasrec", 500, 10, "small")
    state = model.state_dict()
    packed = quantize_state(state)
    assert f"item_embedding.weight{SEP}q" in packed and "final_norm.weight" in packed
    restored = dequantize_state(packed)
    assert restored.keys() == state.keys()
    for name, tensor in state.items():
        assert restored[name].shape == tensor.shape
        if tensor.numel() < 256:
            assert torch.equal(restored[name], tensor)


def test_int8_payload_is_at_least_three_and_a_half_times_smaller_and_decodes_on_the_device():
    model = build_seqrec("sasrec", 2000, 20, "small")
    fp32 = encode_state(model.state_dict(), codec="fp32", compress="zstd")
    payload = int8_payload(model, meta={"v": 1})
    assert len(fp32) / len(payload) >= 3.5
    assert decode_state(payload)[1]["v"] == 1
    device = load_int8_payload(build_seqrec("sasrec", 2000, 20, "small"), payload)
    named = dequantize_state(quantize_state(model.state_dict()))  # both layouts decode to the same weights
    for name, tensor in device.state_dict().items():
        torch.testing.assert_close(tensor, named[name])


def test_packed_layout_rejects_payloads_that_do_not_fit_the_device_model():
    model = build_seqrec("sasrec", 300, 10, "small")
    packed = pack_int8(model.state_dict())
    with pytest.raises(PayloadError, match="ends before"):
        unpack_int8({**packed, "codes": packed["codes"][:-5]}, model.state_dict())
    with pytest.raises(PayloadError, match="more values"):
        unpack_int8({**packed, "floats": torch.cat([packed["floats"], torch.ones(3)])}, model.state_dict())
    with pytest.raises(PayloadError, match="int8-packed"):
        load_int8_payload(model, encode_state(model.state_dict()))
    with pytest.raises(ConfigError, match="only float"):
        pack_int8({"steps": torch.tensor(3)})


def test_quantized_copy_predicts_nearly_the_same(tiny_split):
    model = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=32).eval()
    clone = quantized_copy(model, min_numel=64)
    history = torch.as_tensor(tiny_split.test_histories[:8])
    assert not torch.equal(clone.item_embedding.weight, model.item_embedding.weight)
    torch.testing.assert_close(clone(history)[:, 1:], model(history)[:, 1:], atol=0.05, rtol=0.05)


def test_bad_input_is_rejected():
    with pytest.raises(ConfigError):
        quantize_state({"w": torch.tensor([1.0, float("nan")] * 200)})
    with pytest.raises(ConfigError, match="contains"):
        quantize_state({f"a{SEP}b": torch.zeros(2)})
    packed = quantize_state({"w": torch.randn(64, 64)})
    del packed[f"w{SEP}scale"]
    with pytest.raises(PayloadError, match="lacks"):
        dequantize_state(packed)
