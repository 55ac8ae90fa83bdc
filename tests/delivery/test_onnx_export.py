import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.delivery.onnx_export import example_inputs, export_onnx, onnx_latency, onnx_session
from tandem.models.seqrec import build_seqrec

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def torch_reference(model, feeds):
    history = torch.as_tensor(feeds["history"])
    with torch.no_grad():
        if "candidates" in feeds:
            return model.score_candidates(history, torch.as_tensor(feeds["candidates"])).numpy()
        return model(history).numpy()


def check_parity(model, tmp_path, mode):
    path = export_onnx(model, tmp_path / f"{model.arch}-{mode}.onnx", mode=mode, n_candidates=20)
    session = onnx_session(path, threads=1)
    for batch, n in ((1, 20), (3, 7)):  # dynamic batch and candidate count
        feeds = example_inputs(model, mode, n_candidates=n, batch=batch, seed=batch)
        feeds["history"][0, :3] = 0  # some left padding
        got, want = session.run(None, feeds)[0], torch_reference(model, feeds)
        finite = np.isfinite(want)
        assert got.shape == want.shape and np.array_equal(np.isfinite(got), finite)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-5)
    return session


def test_sasrec_candidate_scorer_matches_torch_and_is_fast(tmp_path):
    model = build_seqrec("sasrec", 200, 12, "small").eval()
    session = check_parity(model, tmp_path, "candidates")
    latency = onnx_latency(session, example_inputs(model, "candidates", 100), repeats=30, warmup=5)
    assert 0 < latency["p50_ms"] <= latency["p95_ms"]


@pytest.mark.slow
@pytest.mark.parametrize("arch,mode", [("gru4rec", "candidates"), ("gru4rec", "full"), ("sasrec", "full")])
def test_other_exports_match_torch(tmp_path, arch, mode):
    check_parity(build_seqrec(arch, 200, 12, "small").eval(), tmp_path, mode)


def test_bad_arguments_are_config_errors():
    model = build_seqrec("sasrec", 20, 5, "small")
    with pytest.raises(ConfigError, match="mode"):
        example_inputs(model, "topk")
    with pytest.raises(ConfigError):
        onnx_latency(object(), {}, repeats=0)
