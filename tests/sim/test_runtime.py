"""Client runtimes: the batched runtime equals the sequential one and honours the LocalObjective contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.federated.client_trainer import SequentialRuntime
from tandem.federated.strategy import LocalObjective, RoundPlan
from tandem.sim.runtime import BatchedRuntime, make_runtime

from .conftest import make_mlp

OBJECTIVES = {
    "sgd": LocalObjective(lr=0.1, batch_size=8),
    "epochs2": LocalObjective(lr=0.1, batch_size=8, epochs=2),
    "prox": LocalObjective(lr=0.1, batch_size=8, prox_mu=0.5),
    "scaffold": LocalObjective(lr=0.1, batch_size=8, control_variates=True),
    "fedper": LocalObjective(lr=0.1, batch_size=8, personal_keys=("2.weight", "2.bias")),
    "ditto": LocalObjective(lr=0.1, batch_size=8, ditto_lambda=0.3),
    "report_loss": LocalObjective(lr=0.1, batch_size=8, report_loss=True),
}


def _plan(model: nn.Module, rnd: int, objective: LocalObjective) -> RoundPlan:
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    server_state = {}
    if objective.control_variates:
        g = torch.Generator().manual_seed(rnd)
        server_state["c"] = {k: 0.01 * torch.randn(v.shape, generator=g) for k, v in params.items()}
    return RoundPlan(round=rnd, params=params, objective=objective, server_state=server_state)


def _two_rounds(runtime, model, objective):
    out = []
    for rnd, ids in ((1, list(range(12))), (2, [1, 3, 4, 7, 9])):
        out.append(runtime.fit(_plan(model, rnd, objective), ids))
    return out


def _assert_same_results(a, b, atol=1e-6):
    assert [r.client_id for r in a] == [r.client_id for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra.n_examples == rb.n_examples
        assert ra.params.keys() == rb.params.keys()
        for k in ra.params:
            torch.testing.assert_close(ra.params[k], rb.params[k], rtol=1e-5, atol=atol)
        assert ra.extra.keys() == rb.extra.keys()
        for k in ra.extra.get("delta_c", {}):
            torch.testing.assert_close(ra.extra["delta_c"][k], rb.extra["delta_c"][k], rtol=1e-4, atol=1e-4)
        if ra.loss_before is not None or rb.loss_before is not None:
            assert ra.loss_before == pytest.approx(rb.loss_before, rel=1e-5)
        assert ra.metrics.keys() == rb.metrics.keys()
        for k in ra.metrics:
            assert ra.metrics[k] == pytest.approx(rb.metrics[k], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_batched_equals_sequential(name, small_data):
    model = make_mlp()
    objective = OBJECTIVES[name]
    batched = _two_rounds(BatchedRuntime(model, small_data), model, objective)
    sequential = _two_rounds(SequentialRuntime(model, small_data), model, objective)
    for a, b in zip(batched, sequential, strict=True):
        _assert_same_results(a, b)


@pytest.mark.parametrize("name", ["sgd", "scaffold", "ditto"])
def test_batched_result_does_not_depend_on_chunking(name, small_data):
    model = make_mlp()
    whole = _two_rounds(BatchedRuntime(model, small_data), model, OBJECTIVES[name])
    chunked = _two_rounds(BatchedRuntime(model, small_data, max_clients=3), model, OBJECTIVES[name])
    for a, b in zip(whole, chunked, strict=True):
        _assert_same_results(a, b, atol=0)


def test_one_step_matches_hand_computed_sgd(small_data):
    """Client 1 has 3 rows, batch 8 -> one step: w - lr * grad(mean CE) on its rows in the seeded order."""
    model = make_mlp()
    plan = _plan(model, 1, LocalObjective(lr=0.2, batch_size=8, report_loss=True))
    (result,) = BatchedRuntime(model, small_data).fit(plan, [1])
    rows = torch.from_numpy(small_data.parts[1])
    loss = F.cross_entropy(model(small_data.X[rows]), small_data.y[rows])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for (key, p), g in zip(model.named_parameters(), grads, strict=True):
        torch.testing.assert_close(result.params[key], p.detach() - 0.2 * g, rtol=0, atol=1e-6)
    assert result.loss_before == pytest.approx(float(loss.detach()), rel=1e-6)
    assert result.n_examples == 3


def test_scaffold_option_two_by_hand(small_data):
    """One step from c_i = 0: c_i+ = -c + (w - (w - lr (g + c))) / lr = g, so delta_c is the gradient."""
    model = make_mlp()
    plan = _plan(model, 1, LocalObjective(lr=0.2, batch_size=8, control_variates=True))
    runtime = BatchedRuntime(model, small_data)
    (result,) = runtime.fit(plan, [1])
    rows = torch.from_numpy(small_data.parts[1])
    loss = F.cross_entropy(model(small_data.X[rows]), small_data.y[rows])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for (key, _), g in zip(model.named_parameters(), grads, strict=True):
        torch.testing.assert_close(result.extra["delta_c"][key], g, rtol=1e-3, atol=1e-5)
        torch.testing.assert_close(runtime.states.get("c_i", 1)[key], g, rtol=1e-3, atol=1e-5)


def test_empty_client_returns_global_with_weight_zero(small_data):
    model = make_mlp()
    plan = _plan(model, 1, LocalObjective(control_variates=True))
    runtime = BatchedRuntime(model, small_data)
    (result,) = runtime.fit(plan, [0])
    assert result.n_examples == 0
    for k, v in plan.params.items():
        assert torch.equal(result.params[k], v)
        assert torch.equal(result.extra["delta_c"][k], torch.zeros_like(v))
    assert runtime.states.n_clients() == 0


def test_state_only_for_clients_that_trained(small_data):
    model = make_mlp()
    plain = BatchedRuntime(model, small_data)
    plain.fit(_plan(model, 1, OBJECTIVES["sgd"]), [1, 2, 3])
    assert plain.states.n_clients() == 0  # strategies without client state keep nothing

    personal = BatchedRuntime(model, small_data)
    objective = OBJECTIVES["fedper"]
    results = personal.fit(_plan(model, 1, objective), [1, 2, 3])
    assert personal.states.n_clients() == 3
    assert set(results[0].params) == {"0.weight", "0.bias"}  # personal head never leaves the device
    # the next round starts client 2 from its own head, not the global one
    personal.fit(_plan(model, 2, objective), [2])
    fresh = BatchedRuntime(model, small_data)
    fresh.fit(_plan(model, 2, objective), [2])
    assert not torch.equal(personal.states.get("personal", 2)["2.weight"], fresh.states.get("personal", 2)["2.weight"])


def test_ditto_keeps_a_personal_model(small_data):
    model = make_mlp()
    runtime = BatchedRuntime(model, small_data)
    objective = OBJECTIVES["ditto"]
    runtime.fit(_plan(model, 1, objective), [2, 4])
    first = runtime.states.get("ditto", 4)
    assert set(first) == set(model.state_dict())
    runtime.fit(_plan(model, 2, objective), [4])
    second = runtime.states.get("ditto", 4)
    assert not torch.equal(first["0.weight"], second["0.weight"])
    assert runtime.states.get("ditto", 3) is None


def test_auto_batches_custom_modules_with_vmap(small_data):
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 4)

        def forward(self, x):
            return self.lin(x) * 2

    assert isinstance(make_runtime("auto", make_mlp(), small_data), BatchedRuntime)
    runtime = make_runtime("auto", Custom(), small_data)
    assert type(runtime).__name__ == "FunctionalRuntime"  # not a plain MLP, but its parameters stack
    with pytest.raises(ConfigError, match="BatchedRuntime supports"):
        BatchedRuntime(Custom(), small_data)
    results = runtime.fit(_plan(Custom(), 1, LocalObjective(batch_size=4)), [2, 3])
    assert [r.n_examples for r in results] == [16, 17]


def test_bad_objective_is_rejected(small_data):
    model = make_mlp()
    with pytest.raises(ConfigError, match="lr > 0"):
        BatchedRuntime(model, small_data).fit(_plan(model, 1, LocalObjective(lr=0)), [1])
