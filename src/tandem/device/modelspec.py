"""What a delivered model *is*: a JSON architecture spec, the torch module it builds, and its ONNX graph.

Weights travel as envelopes; the architecture travels as a small JSON spec in the model registry, so a
device can rebuild the module (to train it) and an ONNX graph (to run it with ONNX Runtime). For
feed-forward nets (the models :class:`~tandem.sim.stacked.StackedMLP` accepts) the ONNX graph is written
directly with ``onnx.helper`` from the verified weights: microseconds, where ``torch.onnx.export`` takes
about a second per model and would dominate an agent that refreshes its model every round. Other
modules fall back to ``torch.onnx.export``.
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.sim.stacked import StackedMLP, _Linear

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
_ONNX_OPS = {nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid", nn.Softplus: "Softplus", nn.ELU: "Elu"}


def mlp_spec(sizes: Sequence[int], activation: str = "relu") -> dict[str, Any]:
    """The JSON spec of an MLP with layer widths ``sizes`` (input first, classes last)."""
    spec = {"type": "mlp", "sizes": [int(s) for s in sizes], "activation": activation}
    build_model(spec)  # validate now, not on a device later
    return spec


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """The torch module a spec describes (ConfigError for an unknown or malformed spec)."""
    if not isinstance(spec, Mapping) or spec.get("type") != "mlp":
        raise ConfigError(f"unknown model spec {spec!r}; supported: {{'type': 'mlp', 'sizes': [...]}}")
    sizes, act = spec.get("sizes"), spec.get("activation", "relu")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(type(s) is int and 0 < s <= 1 << 16 for s in sizes):
        raise ConfigError(f"mlp spec: sizes must be a list of >= 2 ints in 1..65536, got {sizes!r}")
    if act not in ACTIVATIONS:
        raise ConfigError(f"mlp spec: activation must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def to_onnx(module: nn.Module, state: Mapping[str, torch.Tensor] | None = None) -> bytes:
    """Serialized ONNX model (input ``x`` [batch, in], output ``logits``) of ``module`` with ``state`` loaded."""
    if state is not None:
        module.load_state_dict(dict(state))
    stacked = StackedMLP.from_module(module)
    if stacked is not None and all(
        type(layer) in _ONNX_OPS or isinstance(layer, _Linear | nn.Identity) for layer in stacked.layers
    ):
        return _mlp_onnx(stacked, module.state_dict())
    return _exported_onnx(module)


def _mlp_onnx(stacked: StackedMLP, state: Mapping[str, torch.Tensor]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "x"
    for i, layer in enumerate(stacked.layers):
        out = f"h{i}"
        if isinstance(layer, _Linear):
            names = [current, f"W{i}"]
            inits.append(numpy_helper.from_array(state[layer.weight].detach().float().numpy(), f"W{i}"))
            if layer.bias is not None:
                inits.append(numpy_helper.from_array(state[layer.bias].detach().float().numpy(), f"b{i}"))
                names.append(f"b{i}")
            nodes.append(helper.make_node("Gemm", names, [out], transB=1))
        elif isinstance(layer, nn.Identity):
            continue
        else:
            nodes.append(helper.make_node(_ONNX_OPS[type(layer)], [current], [out]))
        current = out
    nodes.append(helper.make_node("Identity", [current], ["logits"]))
    first = next(layer for layer in stacked.layers if isinstance(layer, _Linear))
    last = [layer for layer in stacked.layers if isinstance(layer, _Linear)][-1]
    graph = helper.make_graph(
        nodes,
        "tandem_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", first.in_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", last.out_features])],
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
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        )
    return buf.getvalue()


class OnnxModel:
    """A model loaded into an ONNX Runtime session (single-threaded: a device has little to spare)."""

    def __init__(self, onnx_bytes: bytes, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits ``[batch, classes]`` for float inputs ``[batch, features]``."""
        return self.session.run(["logits"], {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax of :meth:`logits`."""
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
