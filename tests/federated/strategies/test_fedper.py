"""FedPer: shared base averaged by FedAvg, personal head never aggregated."""

import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.strategies.fedper import FedPer, split_personal
from tandem.federated.strategy import ClientResult


def _params():
    return {
        "0.weight": torch.tensor([[1.0, 2.0]]),
        "0.bias": torch.tensor([0.0]),
        "2.weight": torch.tensor([[5.0]]),
        "2.bias": torch.tensor([7.0]),
    }


def _base(w, b):
    return {"0.weight": torch.tensor([w]), "0.bias": torch.tensor([b])}


def test_split_personal_by_names_and_prefix():
    keys = list(_params())
    assert split_personal(keys, ("2.weight", "2.bias")) == (("0.weight", "0.bias"), ("2.weight", "2.bias"))
    assert split_personal(keys, head_prefix="2.") == (("0.weight", "0.bias"), ("2.weight", "2.bias"))
    assert split_personal(keys, ("0.bias",), "2.") == (("0.weight",), ("0.bias", "2.weight", "2.bias"))
    with pytest.raises(ConfigError, match="not parameters"):
        split_personal(keys, ("3.weight",))
    with pytest.raises(ConfigError, match="nothing left"):
        split_personal(keys, tuple(keys))
    with pytest.raises(ConfigError, match="no personal"):
        split_personal(keys, head_prefix="9.")


def test_aggregate_averages_base_and_keeps_head():
    s = FedPer(head_prefix="2.")
    params = _params()
    results = [
        ClientResult(client_id=0, n_examples=1, params=_base([3.0, 0.0], 4.0)),
        ClientResult(client_id=1, n_examples=3, params=_base([-1.0, 4.0], 0.0)),
    ]
    out = s.aggregate(1, params, results)
    # base: (1 * [3, 0] + 3 * [-1, 4]) / 4 = [0, 3]; bias (4 + 0) / 4 = 1
    assert torch.equal(out["0.weight"], torch.tensor([[0.0, 3.0]]))
    assert torch.equal(out["0.bias"], torch.tensor([1.0]))
    # head: untouched values, but fresh tensors (no aliasing of the inputs)
    assert torch.equal(out["2.weight"], params["2.weight"]) and torch.equal(out["2.bias"], params["2.bias"])
    assert out["2.weight"] is not params["2.weight"]
    out["2.bias"] += 1
    assert torch.equal(params["2.bias"], torch.tensor([7.0]))


def test_configure_round_tells_clients_the_personal_keys():
    s = FedPer(head_prefix="2.")
    plan = s.configure_round(1, _params())
    assert plan.objective.personal_keys == ("2.weight", "2.bias")
    assert s.personal_keys_ == ("2.weight", "2.bias")
    s2 = FedPer(personal_keys=("2.weight", "2.bias"))
    assert s2.objective.personal_keys == ("2.weight", "2.bias")


def test_a_client_returning_its_head_is_rejected():
    s = FedPer(personal_keys=("2.weight", "2.bias"))
    leaked = {**_base([1.0, 1.0], 1.0), "2.weight": torch.tensor([[0.0]])}
    with pytest.raises(PayloadError, match=r"client 8 .*unexpected '2.weight'"):
        s.aggregate(1, _params(), [ClientResult(client_id=8, n_examples=1, params=leaked)])


def test_needs_a_head():
    with pytest.raises(ConfigError, match="personal_keys or head_prefix"):
        FedPer()
    with pytest.raises(ConfigError, match="sequence"):
        FedPer(personal_keys="2.weight")
