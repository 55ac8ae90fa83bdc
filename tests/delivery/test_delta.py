import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.delta import apply_delta, delta_payload, state_difference


def states():
    torch.manual_seed(0)
    held = {"w": torch.randn(200, 50), "b": torch.randn(50), "steps": torch.tensor(3)}
    new = {k: v.clone() for k, v in held.items()}
    new["w"][:20] += torch.randn(20, 50)  # only some rows changed; b unchanged
    return held, new


def test_difference_omits_unchanged_tensors():
    held, new = states()
    diff = state_difference(held, new)
    assert list(diff) == ["w"] and torch.equal(diff["w"], new["w"] - held["w"])


def test_full_fraction_delta_reconstructs_the_new_version_up_to_fp16():
    held, new = states()
    payload = delta_payload(held, new, base_version=1, new_version=2, fraction=1.0)
    out, version = apply_delta(held, payload, held_version=1)
    assert version == 2 and torch.equal(out["b"], held["b"]) and torch.equal(out["steps"], held["steps"])
    torch.testing.assert_close(out["w"], new["w"], atol=2e-3, rtol=1e-3)


def test_sparse_delta_is_smaller_than_the_model_and_keeps_the_largest_changes():
    held, new = states()
    payload = delta_payload(held, new, 1, 2, fraction=0.1)
    assert len(payload) < 0.2 * 4 * held["w"].numel()
    out, _ = apply_delta(held, payload, 1)
    err_before = (held["w"] - new["w"]).norm()
    assert (out["w"] - new["w"]).norm() < 0.7 * err_before


def test_device_refuses_a_delta_for_another_version_and_bad_states():
    held, new = states()
    payload = delta_payload(held, new, 1, 2)
    with pytest.raises(PayloadError, match="base version 1"):
        apply_delta(held, payload, held_version=5)
    with pytest.raises(PayloadError, match="lacks"):
        apply_delta({"b": held["b"], "steps": held["steps"]}, payload, 1)
    with pytest.raises(ConfigError, match="names differ"):
        state_difference(held, {"w": new["w"]})
    with pytest.raises(ConfigError, match="non-float"):
        state_difference(held, {**new, "steps": torch.tensor(4)})
    with pytest.raises(ConfigError, match="fraction"):
        delta_payload(held, new, 1, 2, fraction=0.0)
