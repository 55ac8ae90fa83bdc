"""FedAvgM on two hand-computed rounds, and its checkpoint."""

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.aggregate import weighted_average
from tandem.federated.strategies.fedavgm import FedAvgM
from tandem.federated.strategy import ClientResult


def _r(cid, n, *w):
    return ClientResult(client_id=cid, n_examples=n, params={"w": torch.tensor(w)})


def test_two_rounds_by_hand():
    s = FedAvgM(server_lr=1.0, server_momentum=0.5)
    x = {"w": torch.tensor([0.0, 0.0])}
    s.initialize(x)
    # round 1: weighted mean of [1, 2] (n=1) and [1, -2] (n=3) = [1, -1]; delta = [1, -1] = m; x = [1, -1]
    x = s.aggregate(1, x, [_r(0, 1, 1.0, 2.0), _r(1, 3, 1.0, -2.0)])
    assert torch.allclose(x["w"], torch.tensor([1.0, -1.0]))
    # round 2: both clients at [2, -1]: delta = [1, 0]; m = 0.5 * [1, -1] + [1, 0] = [1.5, -0.5]
    x = s.aggregate(2, x, [_r(0, 1, 2.0, -1.0), _r(1, 1, 2.0, -1.0)])
    assert torch.allclose(s.momentum_["w"], torch.tensor([1.5, -0.5]))
    assert torch.allclose(x["w"], torch.tensor([2.5, -1.5]))


def test_server_lr_scales_the_step():
    s = FedAvgM(server_lr=0.5, server_momentum=0.0)
    x = s.aggregate(1, {"w": torch.tensor([0.0])}, [_r(0, 1, 4.0)])
    assert torch.allclose(x["w"], torch.tensor([2.0]))


def test_no_momentum_unit_lr_matches_fedavg():
    s = FedAvgM(server_lr=1.0, server_momentum=0.0)
    x = {"w": torch.tensor([0.25, -1.0])}
    results = [_r(0, 2, 1.0, 3.0), _r(1, 5, -2.0, 0.5)]
    expected = weighted_average([r.params for r in results], [2, 5])
    assert torch.allclose(s.aggregate(1, x, results)["w"], expected["w"], atol=1e-7)


def test_checkpoint_round_trip_resumes_identically():
    a = FedAvgM(server_momentum=0.5)
    x = {"w": torch.tensor([0.0, 0.0])}
    x = a.aggregate(1, x, [_r(0, 1, 1.0, 2.0)])
    b = FedAvgM(server_momentum=0.5)
    b.load_state_dict(a.state_dict())
    nxt = [_r(0, 1, 3.0, 3.0)]
    assert torch.equal(a.aggregate(2, x, nxt)["w"], b.aggregate(2, x, nxt)["w"])


def test_state_dict_is_a_copy():
    s = FedAvgM()
    s.aggregate(1, {"w": torch.tensor([0.0])}, [_r(0, 1, 1.0)])
    state = s.state_dict()
    state["momentum"]["w"] += 100
    assert torch.allclose(s.momentum_["w"], torch.tensor([1.0]))


def test_bad_hyper_parameters_and_checkpoints():
    with pytest.raises(ConfigError, match="server_momentum"):
        FedAvgM(server_momentum=1.0)
    with pytest.raises(ConfigError, match="server_lr"):
        FedAvgM(server_lr=0.0)
    s = FedAvgM()
    with pytest.raises(ConfigError, match="momentum"):
        s.load_state_dict({})
    with pytest.raises(ConfigError, match="non-finite"):
        s.load_state_dict({"momentum": {"w": torch.tensor([float("nan")])}})
    assert s.momentum_ is None


def test_momentum_shape_mismatch_is_a_config_error():
    s = FedAvgM()
    s.load_state_dict({"momentum": {"w": torch.zeros(3)}})
    with pytest.raises(ConfigError, match="shape"):
        s.aggregate(1, {"w": torch.zeros(2)}, [_r(0, 1, 1.0, 1.0)])
