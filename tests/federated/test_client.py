"""The client step as pure functions: data order, minibatch plan, the SGD step, SCAFFOLD's update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.client import (
    check_objective,
    local_order,
    plan_steps,
    scaffold_update,
    sgd_update,
    step_direction,
)
from tandem.federated.strategy import LocalObjective


def test_plan_steps_by_hand():
    # client 0: 5 rows, batch 2 -> batches of 2, 2, 1; client 1: 2 rows -> one batch of 2; 2 epochs for client 1
    orders = [np.array([10, 11, 12, 13, 14]), np.array([20, 21])]
    plan = plan_steps(orders, np.array([5, 2]), batch_size=2, epochs=1)
    assert plan.rows.shape == (3, 2, 2)
    np.testing.assert_array_equal(plan.rows[:, 0], [[10, 11], [12, 13], [14, 0]])
    np.testing.assert_array_equal(plan.weight[:, 0], [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(plan.active, [[True, True], [True, False], [True, False]])
    np.testing.assert_array_equal(plan.n_steps, [3, 1])
    two = plan_steps([np.array([20, 21, 21, 20])], np.array([2]), batch_size=2, epochs=2)
    np.testing.assert_array_equal(two.rows[:, 0], [[20, 21], [21, 20]])


def test_local_order_is_the_peer_protocol():
    np.testing.assert_array_equal(local_order(0, 3, 17, 9, 1), np.random.default_rng([0, 3, 17]).permutation(9))
    rng = np.random.default_rng([5, 1, 2])
    np.testing.assert_array_equal(local_order(5, 1, 2, 4, 2), np.concatenate([rng.permutation(4), rng.permutation(4)]))


def test_step_direction_adds_prox_and_correction_and_masks():
    g, p, anchor, corr = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor(0.5)
    assert step_direction(g, p, anchor).tolist() == [1.0, 2.0]
    assert step_direction(g, p, anchor, mu=0.0).tolist() == [1.0, 2.0]
    assert step_direction(g, p, anchor, mu=0.5, correction=corr).tolist() == [1.0 + 1.0 + 0.5, 2.0 - 0.5 + 0.5]
    assert step_direction(g, p, anchor, mu=0.5, active=torch.tensor(0.0)).tolist() == [0.0, 0.0]


def test_sgd_update_of_stacked_clients_broadcasts_per_client_mu_and_mask():
    params = {"w": torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])}  # K = 3 clients, shape [2]
    grads = {"w": torch.ones(3, 2)}
    anchor = {"w": torch.zeros(2)}
    out = sgd_update(params, grads, anchor, 0.1, mu=torch.tensor([0.0, 1.0, 1.0]), active=torch.tensor([1.0, 1.0, 0.0]))
    # client 0: w - 0.1 * 1; client 1: w - 0.1 * (1 + 1 * (2 - 0)); client 2: no step left
    torch.testing.assert_close(out["w"], torch.tensor([[0.9, 0.9], [1.7, 1.7], [3.0, 3.0]]))
    assert params["w"][0, 0] == 1.0  # pure: the input is untouched


def test_sgd_update_applies_correction_only_to_its_keys():
    params = {"a": torch.zeros(2), "b": torch.zeros(2)}
    grads = {"a": torch.zeros(2), "b": torch.zeros(2)}
    out = sgd_update(params, grads, params, 1.0, correction={"a": torch.ones(2)})
    assert out["a"].tolist() == [-1.0, -1.0] and out["b"].tolist() == [0.0, 0.0]


def test_scaffold_option_two_by_hand():
    c_i = {"w": torch.tensor([[0.1], [0.0]])}
    c = {"w": torch.tensor([0.2])}
    anchor = {"w": torch.tensor([1.0])}
    trained = {"w": torch.tensor([[0.5], [0.8]])}
    c_new, delta = scaffold_update(c_i, c, anchor, trained, np.array([5, 2]), lr=0.1)
    # c_i+ = c_i - c + (x - y_i) / (K_i * lr)
    torch.testing.assert_close(c_new["w"], torch.tensor([[0.1 - 0.2 + 0.5 / 0.5], [0.0 - 0.2 + 0.2 / 0.2]]))
    torch.testing.assert_close(delta["w"], c_new["w"] - c_i["w"])


@pytest.mark.parametrize(
    "objective",
    [LocalObjective(lr=0), LocalObjective(epochs=0), LocalObjective(batch_size=0), LocalObjective(prox_mu=-1)],
)
def test_check_objective_rejects_what_no_runtime_can_train(objective):
    with pytest.raises(ConfigError, match="LocalObjective"):
        check_objective(objective)
