"""FedAdagrad (Reddi et al. 2021, Algorithm 2) on hand-computed rounds."""

import math

import torch

from tandem.federated.strategies.fedadagrad import FedAdagrad
from tandem.federated.strategy import ClientResult


def _r(*w):
    return [ClientResult(client_id=0, n_examples=1, params={"w": torch.tensor(w)})]


def test_accumulates_squared_pseudo_gradients():
    s = FedAdagrad(eta=1.0, tau=1.0, initial_accumulator=0.0)  # beta1 = 0: m = delta
    x = s.aggregate(1, {"w": torch.tensor([1.0, 1.0])}, _r(3.0, -3.0))
    # delta = [2, -4]; v = [4, 16]; x = [1 + 2/3, 1 - 4/5]
    assert torch.allclose(x["w"], torch.tensor([5.0 / 3.0, 0.2]))
    x2 = s.aggregate(2, x, _r(float(x["w"][0]) + 3.0, float(x["w"][1])))
    # delta = [3, 0]; v = [4 + 9, 16]; step = [3 / (sqrt(13) + 1), 0]
    assert torch.allclose(s.v_["w"], torch.tensor([13.0, 16.0]), atol=1e-5)
    assert torch.allclose(x2["w"], torch.tensor([5.0 / 3.0 + 3.0 / (math.sqrt(13.0) + 1.0), 0.2]), atol=1e-6)


def test_server_momentum_when_beta1_set():
    s = FedAdagrad(eta=1.0, beta1=0.5, tau=1.0, initial_accumulator=0.0)
    x = s.aggregate(1, {"w": torch.tensor([1.0, 1.0])}, _r(3.0, -3.0))
    # m = 0.5 * [2, -4] = [1, -2]; v = [4, 16]; x = [1 + 1/3, 1 - 2/5]
    assert torch.allclose(x["w"], torch.tensor([4.0 / 3.0, 0.6]))
