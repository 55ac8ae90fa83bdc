"""The one MLP spec: JSON round trip, validation, the module it builds and its ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.mlp import build_mlp, build_model, mlp_spec


def test_spec_is_json_and_builds_linear_activation_layers() -> None:
    spec = mlp_spec([8, 16, 4, 3], "tanh")
    assert json.loads(json.dumps(spec)) == spec == {"type": "mlp", "sizes": [8, 16, 4, 3], "activation": "tanh"}
    model = build_model(spec)
    assert [type(m) for m in model] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert model(torch.zeros(5, 8)).shape == (5, 3)
    assert [type(m) for m in build_mlp([4, 2])] == [nn.Linear]


def test_seeded_build_matches_the_sequential_written_by_hand() -> None:
    torch.manual_seed(3)
    built = build_mlp([64, 64, 10])
    torch.manual_seed(3)
    by_hand = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    pairs = zip(built.state_dict().values(), by_hand.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    torch.manual_seed(3)
    mlp_spec([64, 64, 10])  # a spec is only data: it draws no random numbers
    assert torch.equal(build_mlp([64, 64, 10])[0].weight, built[0].weight)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "cnn", "sizes": [4, 2]},
        {"type": "mlp", "sizes": [4]},
        {"type": "mlp", "sizes": [4, 0]},
        {"type": "mlp", "sizes": [4, 2.5]},
        {"type": "mlp", "sizes": [4, 1 << 20]},
        {"type": "mlp", "sizes": [4, 2], "activation": "swish"},
        "mlp",
    ],
)
def test_malformed_specs_are_config_errors(spec) -> None:
    with pytest.raises(ConfigError):
        build_model(spec)


def test_onnx_graph_of_a_built_mlp_matches_torch() -> None:
    pytest.importorskip("onnxruntime")
    from tandem.device.modelspec import OnnxModel, to_onnx

    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    for model in (build_mlp([8, 16, 3], "sigmoid"),
                  nn.Sequential(nn.Sequential(nn.Linear(8, 5), nn.ReLU()), nn.Dropout(0.5), nn.Linear(5, 3)),
                  build_mlp([8, 6, 3], "gelu")):  # GELU: no hand-written op, torch.onnx.export fallback
        model.eval()
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(OnnxModel(to_onnx(model)).logits(x), expected, rtol=1e-5, atol=1e-5)
