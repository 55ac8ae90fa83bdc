import pytest
import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.prune import (
    apply_masks,
    magnitude_masks,
    pruned_copy,
    sparse_int8_state,
    unpack_sparse_state,
)
from tandem.models.seqrec import build_seqrec


def test_masks_keep_the_largest_magnitudes_per_tensor():
    w = torch.tensor([[0.1, -3.0, 0.2, 2.0], [0.05, -0.5, 1.0, 0.0]])
    mask = magnitude_masks({"w": w}, sparsity=0.5, min_numel=1)["w"]
    assert mask.sum() == 4
    assert mask.tolist() == [[False, True, False, True], [False, True, True, False]]


def test_small_and_integer_tensors_are_not_pruned():
    masks = magnitude_masks({"bias": torch.randn(10), "ids": torch.arange(5000), "w": torch.randn(50, 50)})
    assert list(masks) == ["w"]


def test_apply_masks_zeroes_dropped_entries_only():
    state = {"w": torch.ones(2, 2), "b": torch.ones(2)}
    out = apply_masks(state, {"w": torch.tensor([[True, False], [False, True]])})
    assert out["w"].tolist() == [[1, 0], [0, 1]] and torch.equal(out["b"], state["b"])


def test_sparse_payload_shrinks_with_sparsity_and_restores_zeros():
    model = build_seqrec("sasrec", 3000, 20, "small")
    sizes = {}
    for sparsity in (0.0, 0.5, 0.9):
        pruned, masks = pruned_copy(model, sparsity)
        state = pruned.state_dict()
        payload = encode_state(sparse_int8_state(state, masks), codec="fp32", compress="zstd")
        sizes[sparsity] = len(payload)
        restored = unpack_sparse_state(decode_state(payload)[0])
        for name, mask in masks.items():
            assert torch.all(restored[name][~mask] == 0)
            assert torch.allclose(restored[name][mask], state[name][mask], atol=float(state[name].abs().max()) / 200)
    assert sizes[0.9] < 0.4 * sizes[0.0] and sizes[0.5] < sizes[0.0]


def test_bad_input_is_rejected():
    with pytest.raises(ConfigError, match="sparsity"):
        magnitude_masks({"w": torch.ones(40, 40)}, sparsity=1.0)
    with pytest.raises(ConfigError, match="not in the state"):
        apply_masks({"w": torch.ones(2)}, {"v": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="shape"):
        apply_masks({"w": torch.ones(2)}, {"w": torch.ones(3, dtype=torch.bool)})
    packed = sparse_int8_state({"w": torch.randn(40, 40)}, magnitude_masks({"w": torch.randn(40, 40)}, 0.5))
    packed["w::q"] = packed["w::q"][:-1]
    with pytest.raises(PayloadError, match="keeps"):
        unpack_sparse_state(packed)
