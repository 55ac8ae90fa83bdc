"""Every strategy rejects bad rounds with a message naming client and tensor, and changes nothing."""

import copy

import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.strategy import ClientResult, get_strategy

NAMES = ["ditto", "fedadagrad", "fedadam", "fedavg", "fedavgm", "fedper", "fedprox", "fedyogi", "qfedavg", "scaffold"]
KWARGS = {"scaffold": {"n_clients_total": 10}, "fedper": {"personal_keys": ("head",)}}


def _params():
    return {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0]), "head": torch.tensor([0.5])}


def _result(name, cid, n=2, shift=1.0):
    keys = ["a", "b"] if name == "fedper" else ["a", "b", "head"]
    params = {k: v + shift for k, v in _params().items() if k in keys}
    extra = {"delta_c": {k: torch.full_like(v, 0.1) for k, v in _params().items()}} if name == "scaffold" else {}
    return ClientResult(client_id=cid, n_examples=n, params=params, loss_before=1.5, extra=extra)


def _round(name, shift=1.0):
    return [_result(name, 10, 2, shift), _result(name, 11, 3, -shift / 2)]


def _same(a, b):
    if isinstance(a, torch.Tensor):
        same_shape = isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
        return same_shape and torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, ClientResult):
        return _same(vars(a), vars(b))
    return a == b


def _break(name, how):
    results = _round(name)
    bad = results[1]
    if how == "missing":
        del bad.params["b"]
    elif how == "unexpected":
        bad.params["zzz"] = torch.zeros(1)
    elif how == "shape":
        bad.params["a"] = torch.zeros(3)
    elif how == "nan":
        bad.params["a"] = torch.tensor([0.0, float("nan")])
    elif how == "inf":
        bad.params["b"] = torch.tensor([float("-inf")])
    elif how == "not_tensor":
        bad.params["b"] = [3.0]
    elif how == "negative_n":
        bad.n_examples = -1
    elif how == "duplicate":
        bad.client_id = 10
    return results


CASES = {
    "missing": r"client 11 .*missing 'b'",
    "unexpected": r"client 11 .*unexpected 'zzz'",
    "shape": r"client 11 .*\['a'\] with shape \(3,\), expected \(2,\)",
    "nan": r"client 11 .*non-finite params\['a'\] \(1 NaN",
    "inf": r"client 11 .*non-finite params\['b'\] \(0 NaN, 1 Inf\)",
    "not_tensor": r"client 11 .*\['b'\] of type list",
    "negative_n": r"client 11 .*n_examples=-1",
    "duplicate": r"client 10 appears more than once",
}


def _strategy(name):
    s = get_strategy(name, **KWARGS.get(name, {}))
    s.initialize(_params())
    return s


@pytest.mark.parametrize("name", NAMES)
def test_empty_round_is_a_config_error(name):
    with pytest.raises(ConfigError, match=f"{name}: round 4 has no client results"):
        _strategy(name).aggregate(4, _params(), [])


@pytest.mark.parametrize("name", NAMES)
def test_all_clients_without_examples_is_a_config_error(name):
    results = [_result(name, 1, n=0), _result(name, 2, n=0)]
    with pytest.raises(ConfigError, match="0 examples"):
        _strategy(name).aggregate(1, _params(), results)


@pytest.mark.parametrize("how", sorted(CASES))
@pytest.mark.parametrize("name", NAMES)
def test_bad_client_is_named_and_state_is_untouched(name, how):
    s = _strategy(name)
    params = s.aggregate(1, _params(), _round(name))  # a good round first, so there is state to protect
    before_state = copy.deepcopy(s.state_dict())
    results = _break(name, how)
    before_inputs = copy.deepcopy((params, results))
    with pytest.raises(PayloadError, match=f"{name}: {CASES[how]}"):
        s.aggregate(2, params, results)
    assert _same(s.state_dict(), before_state)
    assert _same((params, results), before_inputs)
    # and the strategy still works afterwards
    assert set(s.aggregate(2, params, _round(name, 0.5))) == set(_params())


@pytest.mark.parametrize("name", NAMES)
def test_aggregate_does_not_mutate_inputs_or_alias_outputs(name):
    s = _strategy(name)
    params, results = _params(), _round(name)
    before = copy.deepcopy((params, results))
    out = s.aggregate(1, params, results)
    assert _same((params, results), before)
    assert set(out) == set(params)
    for key, value in out.items():
        assert value.shape == params[key].shape and value.dtype == params[key].dtype
        assert torch.isfinite(value).all()
        value.add_(100.0)  # mutating the output must not reach the inputs or the server state
    assert _same((params, results), before)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    a = _strategy(name)
    params = a.aggregate(1, _params(), _round(name))
    b = get_strategy(name, **KWARGS.get(name, {}))
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    nxt = _round(name, 0.25)
    assert _same(a.aggregate(2, params, nxt), b.aggregate(2, params, nxt))
    assert _same(a.state_dict(), b.state_dict())


def test_huge_finite_values_are_not_mistaken_for_overflow():
    # the L2 screen overflows to inf on these, the exact check then clears them
    params = {"w": torch.zeros(3)}
    results = [ClientResult(client_id=0, n_examples=1, params={"w": torch.full((3,), 3e38)})]
    out = get_strategy("fedprox").aggregate(1, params, results)
    assert torch.equal(out["w"], torch.full((3,), 3e38))


def test_nan_found_among_mixed_dtypes():
    params = {"w": torch.zeros(2)}
    results = [
        ClientResult(client_id=0, n_examples=1, params={"w": torch.ones(2, dtype=torch.float16)}),
        ClientResult(client_id=1, n_examples=1, params={"w": torch.tensor([1.0, float("nan")], dtype=torch.float64)}),
    ]
    with pytest.raises(PayloadError, match=r"client 1 sent non-finite params\['w'\] \(1 NaN, 0 Inf\)"):
        get_strategy("fedavgm").aggregate(1, params, results)


def test_numpy_example_counts_are_accepted():
    import numpy as np

    params = {"w": torch.zeros(1)}
    results = [
        ClientResult(client_id=0, n_examples=np.int64(1), params={"w": torch.tensor([2.0])}),
        ClientResult(client_id=1, n_examples=np.int64(3), params={"w": torch.tensor([6.0])}),
    ]
    # (1 * 2 + 3 * 6) / 4 = 5
    assert torch.equal(get_strategy("fedprox").aggregate(1, params, results)["w"], torch.tensor([5.0]))
    with pytest.raises(PayloadError, match=r"client 0 reported n_examples=2\.5"):
        get_strategy("fedprox").aggregate(1, params, [ClientResult(client_id=0, n_examples=2.5, params=params)])
