"""FedAdam (Reddi et al. 2021, Algorithm 2) on hand-computed rounds."""

import math

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategies.fedadam import FedAdam
from tandem.federated.strategy import ClientResult


def _r(cid, n, *w):
    return ClientResult(client_id=cid, n_examples=n, params={"w": torch.tensor(w)})


def test_two_rounds_by_hand():
    s = FedAdam(eta=1.0, beta1=0.5, beta2=0.75, tau=1.0, initial_accumulator=0.0)
    x = {"w": torch.tensor([1.0, 1.0])}
    # delta = [2, -4]; m = [1, -2]; v = 0.25 * [4, 16] = [1, 4]; x += m / (sqrt(v) + 1)
    x = s.aggregate(1, x, [_r(0, 2, 3.0, -3.0)])
    assert torch.allclose(x["w"], torch.tensor([1.5, 1.0 - 2.0 / 3.0]))
    # round 2 with delta = 0: m = [0.5, -1]; v = 0.75 * [1, 4] = [0.75, 3]
    x2 = s.aggregate(2, x, [_r(0, 2, *x["w"].tolist())])
    expected = [1.5 + 0.5 / (math.sqrt(0.75) + 1), 1.0 - 2.0 / 3.0 - 1.0 / (math.sqrt(3.0) + 1)]
    assert torch.allclose(x2["w"], torch.tensor(expected))
    assert torch.allclose(s.v_["w"], torch.tensor([0.75, 3.0]))


def test_default_initial_accumulator_is_tau_squared():
    s = FedAdam(tau=0.1)
    s.initialize({"w": torch.zeros(2)})
    assert torch.allclose(s.v_["w"], torch.full((2,), 0.01))
    assert torch.equal(s.m_["w"], torch.zeros(2))


def test_checkpoint_round_trip():
    a = FedAdam(eta=0.1)
    x = a.aggregate(1, {"w": torch.tensor([0.0])}, [_r(0, 1, 1.0)])
    b = FedAdam(eta=0.1)
    b.load_state_dict(a.state_dict())
    nxt = [_r(0, 1, -1.0)]
    assert torch.equal(a.aggregate(2, x, nxt)["w"], b.aggregate(2, x, nxt)["w"])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="tau"):
        FedAdam(tau=0.0)
    with pytest.raises(ConfigError, match="beta2"):
        FedAdam(beta2=1.5)
    s = FedAdam()
    with pytest.raises(ConfigError, match="negative"):
        s.load_state_dict({"m": {"w": torch.zeros(1)}, "v": {"w": torch.tensor([-1.0])}})
    with pytest.raises(ConfigError, match="only one"):
        s.load_state_dict({"m": {"w": torch.zeros(1)}, "v": None})
    assert s.m_ is None and s.v_ is None
