"""The vmap runtime equals the reference trainer on an MLP, a small CNN and an embedding + GRU model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import PartitionedData
from tandem.federated.client_trainer import SequentialRuntime
from tandem.federated.strategy import ClientResult, LocalObjective, RoundPlan
from tandem.sim.functional import FunctionalRuntime, unstackable_reason
from tandem.sim.runtime import BatchedRuntime, make_runtime

from .conftest import make_mlp

TOL = 1e-5


class SmallCNN(nn.Module):
    """Two conv layers on 1x8x8 digits, then a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU())
        self.head = nn.Linear(6 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class NextItemGRU(nn.Module):
    """Embedding + GRU over a window of item ids, scoring the next item."""

    def __init__(self, n_items: int = 30) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.embed = nn.Embedding(n_items, 8)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12, n_items)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.gru(self.embed(x))
        return self.head(hidden[:, -1])


def _digits_data() -> PartitionedData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:300] / 16.0).astype(np.float32)[:, None]  # [n, 1, 8, 8]
    return PartitionedData.from_arrays(x, digits.target[:300], 8, alpha=0.5, seed=3)


def _sequence_data() -> PartitionedData:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 30, (160, 5))
    y = (x[:, -1] + 1) % 30  # a learnable next item
    return PartitionedData.from_arrays(x, y, 8, seed=4)


CASES = {
    "mlp": (make_mlp, None, ("2.weight", "2.bias")),
    "cnn": (SmallCNN, _digits_data, ("head.weight", "head.bias")),
    "gru": (NextItemGRU, _sequence_data, ("head.weight", "head.bias")),
}


def _objectives(head: tuple[str, ...]) -> dict[str, LocalObjective]:
    return {
        "fedavg": LocalObjective(lr=0.1, batch_size=8),
        "fedavg_2_epochs_report_loss": LocalObjective(lr=0.1, batch_size=8, epochs=2, report_loss=True),
        "fedprox": LocalObjective(lr=0.1, batch_size=8, prox_mu=0.5),
        "scaffold": LocalObjective(lr=0.1, batch_size=8, control_variates=True),
        "fedper": LocalObjective(lr=0.1, batch_size=8, personal_keys=head),
        "ditto": LocalObjective(lr=0.1, batch_size=8, ditto_lambda=0.3),
    }


def _two_rounds(runtime, model: nn.Module, objective: LocalObjective, n_clients: int) -> list[list[ClientResult]]:
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = []
    for rnd, ids in ((1, list(range(n_clients))), (2, list(range(1, n_clients, 2)))):
        state = {}
        if objective.control_variates:
            g = torch.Generator().manual_seed(rnd)
            state["c"] = {k: 0.01 * torch.randn(v.shape, generator=g) for k, v in params.items()}
        out.append(runtime.fit(RoundPlan(rnd, params, objective, state), ids))
    return out


def _max_diff(a: list[list[ClientResult]], b: list[list[ClientResult]]) -> float:
    worst = 0.0
    for round_a, round_b in zip(a, b, strict=True):
        for ra, rb in zip(round_a, round_b, strict=True):
            assert (ra.client_id, ra.n_examples) == (rb.client_id, rb.n_examples)
            assert ra.params.keys() == rb.params.keys() and ra.metrics.keys() == rb.metrics.keys()
            pairs = [(ra.params[k], rb.params[k]) for k in ra.params]
            pairs += [(ra.extra["delta_c"][k], rb.extra["delta_c"][k]) for k in ra.extra.get("delta_c", {})]
            for x, y in pairs:
                worst = max(worst, float((x - y).abs().max()))
            for k in ra.metrics:
                worst = max(worst, abs(ra.metrics[k] - rb.metrics[k]))
            assert (ra.loss_before is None) == (rb.loss_before is None)
            if ra.loss_before is not None:
                worst = max(worst, abs(ra.loss_before - rb.loss_before))
    return worst


@pytest.mark.parametrize("case", sorted(CASES))
def test_vmap_equals_sequential_reference(case, small_data):
    build, make_data, head = CASES[case]
    data = small_data if make_data is None else make_data()
    model = build()
    for name, objective in _objectives(head).items():
        vmapped = _two_rounds(FunctionalRuntime(model, data), model, objective, data.n_clients)
        reference = _two_rounds(SequentialRuntime(model, data), model, objective, data.n_clients)
        assert _max_diff(vmapped, reference) <= TOL, (case, name)


def test_vmap_results_do_not_depend_on_chunking(small_data):
    model = make_mlp()
    objective = LocalObjective(lr=0.1, batch_size=8, control_variates=True)
    whole = _two_rounds(FunctionalRuntime(model, small_data), model, objective, small_data.n_clients)
    chunked = _two_rounds(FunctionalRuntime(model, small_data, max_clients=3), model, objective, small_data.n_clients)
    assert _max_diff(whole, chunked) <= TOL


def test_batchnorm_and_dropout_are_refused_and_auto_falls_back(small_data):
    with_bn = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.Linear(6, 4))
    with pytest.raises(ConfigError, match="buffers"):
        FunctionalRuntime(with_bn, small_data)
    assert isinstance(make_runtime("auto", with_bn, small_data), SequentialRuntime)
    assert "dropout" in (unstackable_reason(nn.Sequential(nn.Linear(8, 4), nn.Dropout(0.2))) or "")


class _ItemInForward(nn.Module):
    """A forward pass vmap cannot batch (it reads a tensor's value into Python)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * float(x.abs().sum().item() > 0)


def test_an_op_vmap_cannot_batch_is_a_config_error(small_data):
    with pytest.raises(ConfigError, match="vmap"):
        FunctionalRuntime(_ItemInForward(), small_data)
    assert isinstance(make_runtime("auto", _ItemInForward(), small_data), SequentialRuntime)


def test_make_runtime_picks_the_fastest_that_fits(small_data):
    assert isinstance(make_runtime("auto", make_mlp(), small_data), BatchedRuntime)
    assert isinstance(make_runtime("auto", NextItemGRU(), _sequence_data()), FunctionalRuntime)
    assert isinstance(make_runtime("vmap", make_mlp(), small_data), FunctionalRuntime)
    smoothed = lambda out, y: nn.functional.cross_entropy(out, y, label_smoothing=0.1)  # noqa: E731
    custom_loss = make_runtime("auto", make_mlp(), small_data, loss_fn=smoothed)
    assert isinstance(custom_loss, FunctionalRuntime)  # the hand-written MLP path knows cross-entropy only
