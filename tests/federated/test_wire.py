"""The round wire format shared by every transport: plans and results survive encoding; bad ones are refused."""

from __future__ import annotations

import pytest
import torch

from tandem.core.envelope import encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import ClientResult, LocalObjective, RoundPlan
from tandem.federated.wire import (
    check_result_shapes,
    decode_plan,
    decode_result,
    encode_plan,
    encode_result,
)

PARAMS = {"w": torch.randn(3, 2), "b": torch.randn(3)}


def test_plan_round_trip_keeps_objective_and_server_state() -> None:
    plan = RoundPlan(
        4,
        PARAMS,
        LocalObjective(lr=0.2, epochs=3, personal_keys=("b",)),
        {"c": {k: torch.ones_like(v) for k, v in PARAMS.items()}, "step": 7},
    )
    back = decode_plan(encode_plan(plan))
    assert back.round == 4 and back.objective == plan.objective and back.server_state["step"] == 7
    assert all(torch.equal(back.params[k], PARAMS[k]) for k in PARAMS)
    assert torch.equal(back.server_state["c"]["w"], torch.ones(3, 2))


def test_result_round_trip_and_shape_checks() -> None:
    result = ClientResult(
        9,
        12,
        PARAMS,
        loss_before=0.5,
        metrics={"train_loss": 0.25},
        extra={"delta_c": {k: torch.zeros_like(v) for k, v in PARAMS.items()}},
    )
    back = decode_result(encode_result(2, result))
    assert (back.client_id, back.n_examples, back.loss_before, back.metrics) == (9, 12, 0.5, {"train_loss": 0.25})
    plan = RoundPlan(2, PARAMS, LocalObjective())
    check_result_shapes(back, plan)
    with pytest.raises(PayloadError, match=r"is \(2, 3\)"):
        check_result_shapes(ClientResult(9, 1, {**PARAMS, "w": torch.zeros(2, 3)}), plan)
    with pytest.raises(PayloadError, match="missing"):
        check_result_shapes(ClientResult(9, 1, {"w": PARAMS["w"]}), plan)
    with pytest.raises(PayloadError, match="NaN"):
        check_result_shapes(ClientResult(9, 1, {**PARAMS, "b": torch.full((3,), float("inf"))}), plan)
    with pytest.raises(PayloadError, match="n_examples"):
        check_result_shapes(ClientResult(9, 1 << 40, PARAMS), plan)


def test_non_plans_are_refused() -> None:
    with pytest.raises(PayloadError, match="not a round plan"):
        decode_plan(encode_state(PARAMS))
    with pytest.raises(PayloadError, match="layout"):
        decode_plan(encode_state(PARAMS, meta={"kind": "plan", "round": 1, "objective": {}}))
    with pytest.raises(ConfigError):
        RoundLoop("fedavg")  # type: ignore[arg-type]
