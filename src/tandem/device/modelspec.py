"""What a delivered model *runs as*: the ONNX graph of its torch module, and an ONNX Runtime session.

Weights travel as envelopes; the architecture travels as a small JSON spec in the model registry
(:mod:`tandem.models.mlp`), so a device can rebuild the module (to train it) and an ONNX graph (to run it
with ONNX Runtime). For feed-forward nets (``nn.Linear`` layers and element-wise activations in an
``nn.Sequential``, nested allowed) the ONNX graph is written directly with ``onnx.helper`` from the verified
weights: microseconds, where ``torch.onnx.export`` takes about a second per model and would dominate an
agent that refreshes its model every round. Other modules fall back to ``torch.onnx.export``.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.delivery.onnx_export import onnx_session

_ONNX_OPS = {nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid", nn.Softplus: "Softplus", nn.ELU: "Elu"}


def to_onnx(module: nn.Module, state: Mapping[str, torch.Tensor] | None = None) -> bytes:
    """Serialized ONNX model (input ``x`` [batch, in], output ``logits``) of ``module`` with ``state`` loaded."""
    if state is not None:
        module.load_state_dict(dict(state))
    layers = _graph_layers(module)
    if layers is not None and any(isinstance(layer, nn.Linear) for _, layer in layers):
        return _mlp_onnx(layers, module.state_dict())
    return _exported_onnx(module)


def _graph_layers(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]] | None:
    """``(parameter prefix, layer)`` of every Linear and activation in order; None if ``module`` has others.

    Identity and Dropout are skipped (the graph is for inference, where both pass their input through).
    """
    if isinstance(module, nn.Linear):
        return [(prefix, module)]
    if type(module) in _ONNX_OPS:
        return [(prefix, module)]
    if isinstance(module, nn.Identity | nn.Dropout):
        return []
    if isinstance(module, nn.Sequential):
        out: list[tuple[str, nn.Module]] = []
        for name, child in module.named_children():
            inner = _graph_layers(child, f"{prefix}{name}.")
            if inner is None:
                return None
            out += inner
        return out
    return None


def _mlp_onnx(layers: list[tuple[str, nn.Module]], state: Mapping[str, torch.Tensor]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "x"
    for i, (prefix, layer) in enumerate(layers):
        out = f"h{i}"
        if isinstance(layer, nn.Linear):
            names = [current, f"W{i}"]
            inits.append(numpy_helper.from_array(state[f"{prefix}weight"].detach().float().numpy(), f"W{i}"))
            if layer.bias is not None:
                inits.append(numpy_helper.from_array(state[f"{prefix}bias"].detach().float().numpy(), f"b{i}"))
                names.append(f"b{i}")
            nodes.append(helper.make_node("Gemm", names, [out], transB=1))
        else:
            nodes.append(helper.make_node(_ONNX_OPS[type(layer)], [current], [out]))
        current = out
    nodes.append(helper.make_node("Identity", [current], ["logits"]))
    linears = [layer for _, layer in layers if isinstance(layer, nn.Linear)]
    graph = helper.make_graph(
        nodes,
        "tandem_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", linears[0].in_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", linears[-1].out_features])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tandem")
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    return model.SerializeToString()


def _exported_onnx(module: nn.Module) -> bytes:
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ConfigError(f"to_onnx: cannot infer the input width of {type(module).__name__}")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(1, first.in_features),),
            buf,  # type: ignore[arg-type]  # the legacy (dynamo=False) exporter writes to file-like objects too
            dynamo=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        )
    return buf.getvalue()


class OnnxModel:
    """A model loaded into an ONNX Runtime session (single-threaded: a device has little to spare)."""

    def __init__(self, onnx_bytes: bytes, *, threads: int = 1) -> None:
        self.session = onnx_session(onnx_bytes, threads)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits ``[batch, classes]`` for float inputs ``[batch, features]``."""
        return self.session.run(["logits"], {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax of :meth:`logits`."""
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
