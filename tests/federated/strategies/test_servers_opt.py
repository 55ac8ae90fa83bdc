"""Server-optimizer maths on tensors small enough to check by hand."""

import math

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.servers_opt import adaptive_step, momentum_step, pseudo_gradient, second_moment


def test_pseudo_gradient_is_weighted_client_mean_minus_global():
    params = {"w": torch.tensor([1.0, 2.0])}
    clients = [{"w": torch.tensor([3.0, 2.0])}, {"w": torch.tensor([1.0, 6.0])}]
    # weights 1 and 3: average = [(3 + 3) / 4, (2 + 18) / 4] = [1.5, 5.0]; minus [1, 2]
    delta = pseudo_gradient(params, clients, [1, 3])
    assert torch.equal(delta["w"], torch.tensor([0.5, 3.0]))


def test_momentum_step_by_hand():
    x = {"w": torch.tensor([1.0, 2.0])}
    delta = {"w": torch.tensor([0.5, 3.0])}
    m = {"w": torch.tensor([1.0, -1.0])}
    new_x, new_m = momentum_step(x, delta, m, lr=0.5, beta=0.9)
    # m = 0.9 * [1, -1] + [0.5, 3] = [1.4, 2.1]; x = [1, 2] + 0.5 * m = [1.7, 3.05]
    assert torch.allclose(new_m["w"], torch.tensor([1.4, 2.1]))
    assert torch.allclose(new_x["w"], torch.tensor([1.7, 3.05]))
    assert torch.equal(m["w"], torch.tensor([1.0, -1.0]))  # inputs untouched


def test_momentum_zero_and_unit_lr_is_fedavg():
    x = {"w": torch.tensor([1.0, 2.0])}
    delta = {"w": torch.tensor([0.5, 3.0])}
    new_x, _ = momentum_step(x, delta, {"w": torch.tensor([7.0, 7.0])}, lr=1.0, beta=0.0)
    assert torch.equal(new_x["w"], torch.tensor([1.5, 5.0]))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("adagrad", [1.25, 1.25]),  # v + d^2 = [1 + 0.25, 0.25 + 1]
        ("adam", [0.625, 0.625]),  # 0.5 v + 0.5 d^2
        ("yogi", [0.875, 0.75]),  # sign(v - d^2) = [+1, -1]: [1 - 0.125, 0.25 + 0.5]
    ],
)
def test_second_moment_rules(rule, expected):
    v = torch.tensor([1.0, 0.25])
    d = torch.tensor([0.5, 1.0])  # d^2 = [0.25, 1.0]
    assert torch.allclose(second_moment(rule, v, d, 0.5), torch.tensor(expected))


def test_yogi_leaves_v_when_it_equals_d_squared():
    v = torch.tensor([4.0])
    assert torch.equal(second_moment("yogi", v, torch.tensor([2.0]), 0.3), v)


def test_second_moment_rejects_unknown_rule():
    with pytest.raises(ConfigError, match="rmsprop"):
        second_moment("rmsprop", torch.zeros(1), torch.zeros(1), 0.9)


def test_adaptive_step_adam_by_hand():
    x = {"w": torch.tensor([1.0, 1.0])}
    delta = {"w": torch.tensor([2.0, -4.0])}
    zero = {"w": torch.zeros(2)}
    new_x, m, v = adaptive_step("adam", x, delta, zero, zero, eta=1.0, beta1=0.5, beta2=0.75, tau=1.0)
    # m = 0.5 * delta = [1, -2]; v = 0.25 * delta^2 = [1, 4]; x += m / (sqrt(v) + 1) = [1/2, -2/3]
    assert torch.allclose(m["w"], torch.tensor([1.0, -2.0]))
    assert torch.allclose(v["w"], torch.tensor([1.0, 4.0]))
    assert torch.allclose(new_x["w"], torch.tensor([1.5, 1.0 - 2.0 / 3.0]))


def test_adaptive_step_keeps_dtype():
    x = {"w": torch.tensor([1.0], dtype=torch.float64)}
    delta = {"w": torch.tensor([2.0])}
    zero = {"w": torch.zeros(1)}
    new_x, _, _ = adaptive_step("adagrad", x, delta, zero, zero, eta=1.0, beta1=0.0, beta2=0.0, tau=1.0)
    assert new_x["w"].dtype == torch.float64
    assert math.isclose(float(new_x["w"]), 1.0 + 2.0 / 3.0, rel_tol=1e-6)  # 2 / (sqrt(4) + 1)
