import numpy as np
import onnx
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.delivery.onnx_export import onnx_session
from tandem.text.delivery import (
    device_latency,
    export_bundle,
    int8_model,
    onnx_proba,
    payload_bytes,
    small_onnx_graph,
)
from tandem.text.features import HashedNgrams
from tandem.text.small import HashedNgramClassifier, predict_proba

FEATURES = HashedNgrams(n_buckets=4096)
SENTENCES = ["a good film", "not a good film , not at all", "bad", ""]


def _model(dim: int | None) -> HashedNgramClassifier:
    torch.manual_seed(0)
    model = HashedNgramClassifier(4096, dim=dim)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


@pytest.mark.parametrize("dim", [None, 8])
def test_onnx_graph_computes_what_torch_computes(tmp_path, dim) -> None:
    model = _model(dim)
    bundle = export_bundle(model, tmp_path)
    ids = FEATURES.transform(SENTENCES)
    expected = predict_proba(model, ids)
    np.testing.assert_allclose(onnx_proba(onnx_session(bundle["fp32"]), ids), expected, atol=1e-5)
    np.testing.assert_allclose(onnx_proba(onnx_session(bundle["int8"]), ids), expected, atol=0.05)
    onnx.checker.check_model(small_onnx_graph(model))
    assert bundle["int8"].stat().st_size < bundle["fp32"].stat().st_size / 2


def test_int8_payload_is_real_and_smaller() -> None:
    model = _model(None)
    sizes = payload_bytes(model)
    assert 0 < sizes["int8_zstd"] < sizes["fp32_zstd"] / 2
    ids = FEATURES.transform(SENTENCES)
    np.testing.assert_allclose(predict_proba(int8_model(model), ids), predict_proba(model, ids), atol=0.05)


def test_latency_is_measured_per_sentence(tmp_path) -> None:
    bundle = export_bundle(_model(None), tmp_path)
    lat = device_latency(bundle["fp32"], FEATURES, SENTENCES, repeats=2, warmup=2)
    assert set(lat) == {"model_p50_ms", "model_p95_ms", "e2e_p50_ms", "e2e_p95_ms"}
    assert 0 < lat["model_p50_ms"] <= lat["e2e_p50_ms"] < 50


def test_bad_input_is_rejected(tmp_path) -> None:
    with pytest.raises(ConfigError, match="HashedNgramClassifier"):
        small_onnx_graph(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        device_latency(tmp_path / "none.onnx", FEATURES, [], repeats=1)
