"""ONNX export of a sequential recommender and its on-device latency with ONNX Runtime.

A device runs the delivered model with ONNX Runtime, not PyTorch. Two request shapes are exported:
``candidates`` (the device re-ranks a list the cloud sent, EdgeRec-style: inputs ``history [batch, max_len]``
and ``candidates [batch, n]``, output ``scores [batch, n]``) and ``full`` (score every item: output
``logits [batch, n_items + 1]``). Batch and candidate count are dynamic. Latency is measured per request
(batch 1) on one intra-op thread, the budget of a phone's background inference, and reported as p50/p95.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.seqrec import SequentialRecommender

MODES = ("candidates", "full")


class CandidateScorer(nn.Module):
    """``(history, candidates) -> scores``: the on-device re-ranking entry point of a recommender."""

    def __init__(self, model: SequentialRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return self.model.score_candidates(history, candidates)


def example_inputs(model: SequentialRecommender, mode: str = "candidates", n_candidates: int = 100,
                   batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random full-length histories (and candidate lists) shaped like real requests, as int64 arrays."""
    if mode not in MODES:
        raise ConfigError(f"example_inputs: mode must be one of {MODES}, got {mode!r}")
    rng = np.random.default_rng(seed)
    feeds = {"history": rng.integers(1, model.n_items + 1, size=(batch, model.max_len), dtype=np.int64)}
    if mode == "candidates":
        feeds["candidates"] = rng.integers(1, model.n_items + 1, size=(batch, n_candidates), dtype=np.int64)
    return feeds


def export_onnx(model: SequentialRecommender, path: str | Path, mode: str = "candidates",
                n_candidates: int = 100, opset: int = 18) -> Path:
    """Export ``model`` (eval mode) to ``path`` with dynamic batch (and candidate) dimensions."""
    feeds = example_inputs(model, mode, n_candidates, batch=2)
    model = model.eval()
    module: nn.Module = (CandidateScorer(model) if mode == "candidates" else model).eval()
    args = tuple(torch.as_tensor(v) for v in feeds.values())
    batch = torch.export.Dim("batch", min=1, max=4096)
    shapes: dict[str, Any] = {"history": {0: batch}}
    if mode == "candidates":
        shapes["candidates"] = {0: batch, 1: torch.export.Dim("n_candidates", min=1, max=1_000_000)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(module, args, input_names=list(feeds), dynamic_shapes=shapes,
                                    output_names=["scores" if mode == "candidates" else "logits"],
                                    opset_version=opset, dynamo=True, external_data=False, verbose=False)
    assert program is not None  # the dynamo exporter always returns its program
    program.save(str(path))
    return path


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's informational warnings (missing torchvision ops, deprecations) during one export."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_session(model: str | Path | bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``model`` (a path or serialized bytes) limited to ``threads`` intra-op
    threads and one inter-op thread: a device has little to spare."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_latency(session: Any, feeds: dict[str, np.ndarray], repeats: int = 300, warmup: int = 30) -> dict[str, float]:
    """Per-request wall time of ``session.run`` on ``feeds``: ``{"p50_ms", "p95_ms", "mean_ms"}``."""
    if repeats < 1 or warmup < 0:
        raise ConfigError(f"onnx_latency: need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        session.run(None, feeds)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}


def onnx_int8(path: str | Path, out: str | Path) -> Path:
    """ONNX Runtime dynamic int8 quantization of a float model's weights (MatMul/Gather), for on-device speed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return Path(out)
