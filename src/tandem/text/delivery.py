"""Cloud -> device delivery of the small text model: int8 payload, ONNX export and on-device latency.

The payload that crosses the wire is the model's state dict in tandem's envelope, measured as bytes
(:func:`tandem.core.envelope.encode_state`; int8 = per-channel affine codes, :mod:`tandem.delivery.quantize`).
The device runs the ONNX graph with ONNX Runtime on one intra-op thread, the budget of a phone's background
inference; latency is measured per sentence (batch 1) on real sentences and reported both for the model alone
and end to end (hashing the n-grams in Python, then the ONNX call).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

if TYPE_CHECKING:
    import onnx

from tandem.core.envelope import encode_state
from tandem.core.errors import ConfigError
from tandem.delivery.onnx_export import onnx_int8, onnx_session
from tandem.delivery.quantize import ModuleT, int8_payload, quantized_copy
from tandem.models.progress import progress_bar
from tandem.text.features import HashedNgrams
from tandem.text.small import HashedNgramClassifier


def payload_bytes(model: nn.Module) -> dict[str, int]:
    """Wire bytes of ``model`` as fp32 + zstd and as int8 + zstd envelopes (really encoded, then measured)."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    return {"fp32_zstd": len(encode_state(state, codec="fp32", compress="zstd")),
            "int8_zstd": len(int8_payload(model))}


def int8_model(model: ModuleT) -> ModuleT:
    """The model the device computes with after int8 delivery (weights through int8 and back)."""
    return quantized_copy(model)


def small_onnx_graph(model: HashedNgramClassifier, opset: int = 18) -> onnx.ModelProto:
    """The ONNX graph of ``model``, written directly with ``onnx.helper`` (milliseconds, no tracing).

    ``ids int64 [batch, width]`` -> Gather -> mask padding -> ReduceSum / count -> (MatMul) -> + bias ->
    ``logits float [batch, classes]``; the same maths as :meth:`HashedNgramClassifier.forward`.
    """
    from onnx import TensorProto, helper, numpy_helper

    if not isinstance(model, HashedNgramClassifier):
        raise ConfigError(f"small_onnx_graph: expected a HashedNgramClassifier, got {type(model).__name__}")
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    table = state["embedding.weight"]
    low_rank = "out.weight" in state
    bias = state["out.bias"] if low_rank else state["bias"]
    inits = [numpy_helper.from_array(table, "E"), numpy_helper.from_array(bias, "b"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    nodes = [helper.make_node("Gather", ["E", "ids"], ["rows"]),
             helper.make_node("Equal", ["ids", "zero"], ["is_pad"]),
             helper.make_node("Not", ["is_pad"], ["keep"]),
             helper.make_node("Cast", ["keep"], ["mask"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),
             helper.make_node("Mul", ["rows", "mask3"], ["masked"]),
             helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
             helper.make_node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),
             helper.make_node("Max", ["count", "one"], ["count1"]),
             helper.make_node("Div", ["summed", "count1"], ["pooled"])]
    inits.append(numpy_helper.from_array(np.array([2], np.int64), "axis2"))
    if low_rank:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(state["out.weight"].T), "W"))
        nodes.append(helper.make_node("MatMul", ["pooled", "W"], ["projected"]))
        nodes.append(helper.make_node("Add", ["projected", "b"], ["logits"]))
    else:
        nodes.append(helper.make_node("Add", ["pooled", "b"], ["logits"]))
    graph = helper.make_graph(nodes, "tandem_hashed_ngrams", [helper.make_tensor_value_info(
        "ids", TensorProto.INT64, ["batch", "width"])], [helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch", int(bias.shape[0])])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tandem")


def export_small_onnx(model: HashedNgramClassifier, path: str | Path, *, opset: int = 18) -> Path:
    """Write :func:`small_onnx_graph` of ``model`` to ``path`` (checked with ``onnx.checker``)."""
    import onnx

    proto = small_onnx_graph(model, opset)
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def export_bundle(model: HashedNgramClassifier, folder: str | Path) -> dict[str, Path]:
    """``small.onnx`` (fp32) and ``small.int8.onnx`` (ONNX Runtime dynamic int8 of the Gather/MatMul weights)."""
    folder = Path(folder)
    fp32 = export_small_onnx(model, folder / "small.onnx")
    return {"fp32": fp32, "int8": onnx_int8(fp32, folder / "small.int8.onnx")}


def onnx_proba(session: Any, ids: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities from an ONNX Runtime session of the small model."""
    x = np.asarray(ids, dtype=np.int64)
    if x.ndim != 2:
        raise ConfigError(f"onnx_proba: ids must be [rows, width], got {x.shape}")
    logits = np.concatenate([session.run(None, {"ids": x[lo:lo + batch_size]})[0]
                             for lo in range(0, len(x), batch_size)])
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def device_latency(path: str | Path, featurizer: HashedNgrams, sentences: Sequence[str], *, threads: int = 1,
                   repeats: int = 3, warmup: int = 50, progress: bool = False) -> dict[str, float]:
    """Per-sentence latency (ms) on ``threads`` ONNX Runtime threads, batch 1, over real ``sentences``.

    Returns p50/p95 of the ONNX call alone (``model_*``) and of hashing + ONNX call (``e2e_*``); every sentence
    is timed ``repeats`` times after ``warmup`` untimed calls.
    """
    if not sentences or repeats < 1 or warmup < 0:
        raise ConfigError("device_latency: need sentences, repeats >= 1 and warmup >= 0")
    session = onnx_session(path, threads=threads)
    for s in list(sentences)[:warmup]:
        session.run(None, {"ids": featurizer.transform([s])})
    model_ms, e2e_ms = [], []
    with progress_bar(progress) as bar:
        task = bar.add_task("device latency (ONNX Runtime, 1 thread)", total=repeats * len(sentences))
        for _ in range(repeats):
            for s in sentences:
                t0 = time.perf_counter()
                feeds = {"ids": featurizer.transform([s])}
                t1 = time.perf_counter()
                session.run(None, feeds)
                t2 = time.perf_counter()
                model_ms.append((t2 - t1) * 1e3)
                e2e_ms.append((t2 - t0) * 1e3)
                bar.advance(task)
    m, e = np.asarray(model_ms), np.asarray(e2e_ms)
    return {"model_p50_ms": float(np.percentile(m, 50)), "model_p95_ms": float(np.percentile(m, 95)),
            "e2e_p50_ms": float(np.percentile(e, 50)), "e2e_p95_ms": float(np.percentile(e, 95))}
