"""SCAFFOLD option II: server update of x and c, checked by hand."""

import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.strategies.scaffold import Scaffold, scaffold_update
from tandem.federated.strategy import ClientResult, LocalObjective


def _r(cid, n, w, dc):
    extra = {} if dc is None else {"delta_c": {"w": torch.tensor(dc)}}
    return ClientResult(client_id=cid, n_examples=n, params={"w": torch.tensor(w)}, extra=extra)


def test_scaffold_update_by_hand():
    x = {"w": torch.tensor([1.0, 2.0])}
    c = {"w": torch.tensor([0.5, 0.5])}
    ys = [{"w": torch.tensor([2.0, 2.0])}, {"w": torch.tensor([0.0, 4.0])}]
    dcs = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([3.0, 2.0])}]
    new_x, new_c = scaffold_update(x, ys, dcs, c, global_lr=2.0, n_clients_total=4)
    # mean(y - x) = ([1, 0] + [-1, 2]) / 2 = [0, 1]; x + 2 * [0, 1] = [1, 4]
    assert torch.allclose(new_x["w"], torch.tensor([1.0, 4.0]))
    # mean(dc) = [2, 1]; c + (2 / 4) * [2, 1] = [1.5, 1.0]
    assert torch.allclose(new_c["w"], torch.tensor([1.5, 1.0]))
    assert torch.equal(c["w"], torch.tensor([0.5, 0.5]))


def test_round_trip_through_the_strategy_uses_uniform_means():
    s = Scaffold(n_clients_total=4, global_lr=2.0)
    x = {"w": torch.tensor([1.0, 2.0])}
    s.initialize(x)
    s.load_state_dict({"c": {"w": torch.tensor([0.5, 0.5])}})
    plan = s.configure_round(1, x)
    assert plan.objective.control_variates
    assert torch.equal(plan.server_state["c"]["w"], torch.tensor([0.5, 0.5]))
    # example counts 1 and 9 do not weight SCAFFOLD's means
    out = s.aggregate(1, x, [_r(0, 1, [2.0, 2.0], [1.0, 0.0]), _r(1, 9, [0.0, 4.0], [3.0, 2.0])])
    assert torch.allclose(out["w"], torch.tensor([1.0, 4.0]))
    assert torch.allclose(s.c_["w"], torch.tensor([1.5, 1.0]))


def test_server_state_sent_is_a_copy_and_c_starts_at_zero():
    s = Scaffold(n_clients_total=10)
    plan = s.configure_round(1, {"w": torch.tensor([3.0, 3.0])})
    assert torch.equal(plan.server_state["c"]["w"], torch.zeros(2))
    plan.server_state["c"]["w"] += 5
    assert torch.equal(s.c_["w"], torch.zeros(2))


def test_clients_without_examples_are_left_out():
    s = Scaffold(n_clients_total=2)
    x = {"w": torch.tensor([0.0])}
    out = s.aggregate(1, x, [_r(0, 3, [4.0], [2.0]), _r(1, 0, [0.0], None)])
    # S = {client 0}: x = 0 + 1 * 4; c = 0 + (1 / 2) * 2
    assert torch.allclose(out["w"], torch.tensor([4.0]))
    assert torch.allclose(s.c_["w"], torch.tensor([1.0]))


def test_missing_or_bad_delta_c_names_the_client():
    s = Scaffold(n_clients_total=5)
    x = {"w": torch.tensor([0.0])}
    with pytest.raises(PayloadError, match=r"client 3 sent no extra\['delta_c'\]"):
        s.aggregate(1, x, [_r(2, 1, [1.0], [0.0]), _r(3, 1, [1.0], None)])
    with pytest.raises(PayloadError, match=r"client 2 .*delta_c.*shape"):
        s.aggregate(1, x, [_r(2, 1, [1.0], [0.0, 1.0])])
    with pytest.raises(PayloadError, match=r"client 2 .*non-finite extra\['delta_c'\]\['w'\]"):
        s.aggregate(1, x, [_r(2, 1, [1.0], [float("inf")])])
    assert s.c_ is None


def test_population_comes_from_initialize():
    x = {"w": torch.zeros(1)}
    s = Scaffold()  # N is the run's: no constructor argument needed
    with pytest.raises(ConfigError, match="population size N is unknown"):
        s.configure_round(1, x)
    s.initialize(x, n_clients=4)
    assert s.n_clients_ == 4
    s.configure_round(1, x)
    new_x = s.aggregate(1, x, [_r(0, 1, [1.0], [2.0])])
    assert torch.equal(new_x["w"], torch.tensor([1.0]))
    assert torch.equal(s.c_["w"], torch.tensor([0.5]))  # c += (|S| / N) mean(delta_c) = 1/4 * 2
    b = Scaffold()
    b.load_state_dict(s.state_dict())  # the checkpoint keeps N
    assert b.n_clients_ == 4
    with pytest.raises(ConfigError, match="run has 5 clients"):
        Scaffold(n_clients_total=4).initialize(x, n_clients=5)
    Scaffold(n_clients_total=4).initialize(x, n_clients=4)
    Scaffold(n_clients_total=4).initialize(x)  # the engine before n_clients: unchanged behaviour
    with pytest.raises(ConfigError, match="n_clients must be an int"):
        Scaffold().initialize(x, n_clients=0)


def test_configuration_errors():
    with pytest.raises(ConfigError, match="n_clients_total"):
        Scaffold(n_clients_total=0)
    with pytest.raises(ConfigError, match="personal_keys"):
        Scaffold(n_clients_total=3, objective=LocalObjective(personal_keys=("w",)))
    # a proximal term composes with control variates
    assert Scaffold(n_clients_total=3, objective=LocalObjective(prox_mu=0.1)).objective.prox_mu == 0.1
    s = Scaffold(n_clients_total=1)
    with pytest.raises(ConfigError, match="n_clients_total=1"):
        s.aggregate(1, {"w": torch.zeros(1)}, [_r(0, 1, [1.0], [0.0]), _r(1, 1, [1.0], [0.0])])


def test_checkpoint_round_trip():
    a = Scaffold(n_clients_total=3)
    x = a.aggregate(1, {"w": torch.tensor([0.0])}, [_r(0, 1, [1.0], [3.0])])
    b = Scaffold(n_clients_total=3)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.c_["w"], torch.tensor([1.0]))
    nxt = [_r(0, 1, [2.0], [1.0])]
    assert torch.equal(a.aggregate(2, x, nxt)["w"], b.aggregate(2, x, nxt)["w"])
    assert torch.equal(a.c_["w"], b.c_["w"])


def _local_sgd(x, h, a, c, c_i, *, steps, lr, control):
    """A minimal client of the LocalObjective contract on f_i(y) = h/2 (y - a)^2 (option II for c_i)."""
    y = x.clone()
    for _ in range(steps):
        grad = h * (y - a)
        y = y - lr * (grad + (c - c_i if control else 0.0))
    new_c_i = c_i - c + (x - y) / (steps * lr)
    return y, new_c_i


def test_scaffold_removes_client_drift_that_fedavg_keeps():
    # f_1 = 1/2 (x - 0)^2, f_2 = 4/2 (x - 5)^2: the optimum of their mean is (1 * 0 + 4 * 5) / (1 + 4) = 4.
    # FedAvg with 10 local steps of lr 0.1 stops at its drifted fixed point
    # x = (5 (1 - 0.6^10)) / (2 - 0.9^10 - 0.6^10) ~= 3.0207; SCAFFOLD reaches 4.
    hs, As = [1.0, 4.0], [0.0, 5.0]
    s = Scaffold(n_clients_total=2)
    x = {"w": torch.tensor([0.0], dtype=torch.float64)}
    xf = x["w"].clone()
    c_i = [torch.zeros(1, dtype=torch.float64) for _ in hs]
    for rnd in range(1, 301):
        c = s.configure_round(rnd, x).server_state["c"]["w"].to(torch.float64)
        results = []
        for i, (h, a) in enumerate(zip(hs, As, strict=True)):
            y, new_c_i = _local_sgd(x["w"], h, a, c, c_i[i], steps=10, lr=0.1, control=True)
            results.append(
                ClientResult(client_id=i, n_examples=1, params={"w": y}, extra={"delta_c": {"w": new_c_i - c_i[i]}})
            )
            c_i[i] = new_c_i
        x = s.aggregate(rnd, x, results)
        zero = torch.zeros(1, dtype=torch.float64)
        xf = (
            sum(
                _local_sgd(xf, h, a, zero, zero, steps=10, lr=0.1, control=False)[0]
                for h, a in zip(hs, As, strict=True)
            )
            / 2
        )
    assert abs(float(x["w"]) - 4.0) < 1e-4
    assert abs(float(xf) - 5 * (1 - 0.6**10) / (2 - 0.9**10 - 0.6**10)) < 1e-6
