"""q-FedAvg (Li et al. 2020, Algorithm 2) on hand-computed rounds."""

import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.strategies.qfedavg import QFedAvg, qfedavg_update
from tandem.federated.strategy import ClientResult, LocalObjective

X = {"w": torch.tensor([0.0, 0.0])}
W1 = {"w": torch.tensor([-1.0, 0.0])}  # L = 1: Delta_1 = [1, 0], ||Delta_1||^2 = 1
W2 = {"w": torch.tensor([0.0, -2.0])}  # L = 1: Delta_2 = [0, 2], ||Delta_2||^2 = 4


def test_q1_by_hand():
    # F = (2, 1); h_1 = 1 * 2^0 * 1 + 1 * 2 = 3; h_2 = 1 * 1 * 4 + 1 * 1 = 5; sum h = 8
    # sum F^q Delta = 2 * [1, 0] + 1 * [0, 2] = [2, 2]; w = 0 - [2, 2] / 8
    out = qfedavg_update(X, [W1, W2], [2.0, 1.0], q=1.0, lipschitz=1.0)
    assert torch.allclose(out["w"], torch.tensor([-0.25, -0.25]))


def test_q0_is_the_uniform_mean_of_client_models():
    # h_k = L for every k, so w - sum L (w - w_k) / (K L) = mean_k w_k = [-0.5, -1]
    out = qfedavg_update(X, [W1, W2], [5.0, 0.1], q=0.0, lipschitz=3.0)
    assert torch.allclose(out["w"], torch.tensor([-0.5, -1.0]))


def test_strategy_q2_with_lipschitz_from_local_lr():
    s = QFedAvg(q=2.0, objective=LocalObjective(lr=0.5))  # L = 1 / 0.5 = 2
    assert s.objective.report_loss
    results = [
        ClientResult(client_id=0, n_examples=4, params=W1, loss_before=2.0),
        ClientResult(client_id=1, n_examples=1, params=W2, loss_before=1.0),
    ]
    out = s.aggregate(1, X, results)
    # Delta_1 = [2, 0] (norm^2 4), Delta_2 = [0, 4] (norm^2 16)
    # h_1 = 2 * 2 * 4 + 2 * 4 = 24; h_2 = 2 * 1 * 16 + 2 * 1 = 34; sum 58
    # numerator = 4 * [2, 0] + 1 * [0, 4] = [8, 4]
    assert torch.allclose(out["w"], torch.tensor([-8.0 / 58.0, -4.0 / 58.0]))


def test_higher_loss_client_pulls_harder_with_larger_q():
    w0 = qfedavg_update(X, [W1, W2], [2.0, 1.0], q=0.0, lipschitz=1.0)["w"]
    w5 = qfedavg_update(X, [W1, W2], [2.0, 1.0], q=5.0, lipschitz=1.0)["w"]
    # client 1 (loss 2) moves coordinate 0; its share of the step grows with q
    assert float(w5[0] / w5[1]) > float(w0[0] / w0[1])


def test_zero_loss_is_clamped_not_infinite():
    out = qfedavg_update(X, [W1], [0.0], q=0.5, lipschitz=1.0)
    assert torch.isfinite(out["w"]).all()


def test_empty_clients_are_left_out_and_losses_checked():
    s = QFedAvg(q=0.0, lipschitz=1.0)
    empty = ClientResult(client_id=7, n_examples=0, params={"w": torch.zeros(2)}, loss_before=None)
    out = s.aggregate(1, X, [ClientResult(client_id=0, n_examples=2, params=W1, loss_before=1.0), empty])
    assert torch.allclose(out["w"], W1["w"])
    with pytest.raises(PayloadError, match="client 3 sent no loss_before"):
        s.aggregate(1, X, [ClientResult(client_id=3, n_examples=2, params=W1)])
    with pytest.raises(PayloadError, match="client 3 sent loss_before=nan"):
        s.aggregate(1, X, [ClientResult(client_id=3, n_examples=2, params=W1, loss_before=float("nan"))])
    with pytest.raises(PayloadError, match=r"client 3 sent loss_before=-1\.0"):
        s.aggregate(1, X, [ClientResult(client_id=3, n_examples=2, params=W1, loss_before=-1.0)])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="q must"):
        QFedAvg(q=-1.0)
    with pytest.raises(ConfigError, match="lipschitz"):
        QFedAvg(lipschitz=0.0)
    with pytest.raises(ConfigError, match="lr"):
        QFedAvg(objective=LocalObjective(lr=0.0))
