"""FedYogi (Reddi et al. 2021, Algorithm 2) on a hand-computed round."""

import torch

from tandem.federated.strategies.fedyogi import FedYogi
from tandem.federated.strategy import ClientResult


def test_one_round_by_hand():
    s = FedYogi(eta=1.0, beta1=0.5, beta2=0.75, tau=1.0, initial_accumulator=5.0)
    x = {"w": torch.tensor([1.0, 1.0])}
    x = s.aggregate(1, x, [ClientResult(client_id=0, n_examples=1, params={"w": torch.tensor([3.0, -3.0])})])
    # delta = [2, -4], delta^2 = [4, 16]; sign(5 - delta^2) = [+1, -1]
    # v = [5 - 0.25 * 4, 5 + 0.25 * 16] = [4, 9]; m = [1, -2]; x = [1 + 1/3, 1 - 2/4]
    assert torch.allclose(s.v_["w"], torch.tensor([4.0, 9.0]))
    assert torch.allclose(x["w"], torch.tensor([4.0 / 3.0, 0.5]))


def test_yogi_differs_from_adam_on_the_same_round():
    from tandem.federated.strategies.fedadam import FedAdam

    kw = {"eta": 1.0, "beta1": 0.5, "beta2": 0.75, "tau": 1.0, "initial_accumulator": 5.0}
    res = [ClientResult(client_id=0, n_examples=1, params={"w": torch.tensor([3.0])})]
    adam, yogi = FedAdam(**kw), FedYogi(**kw)
    adam.aggregate(1, {"w": torch.tensor([1.0])}, res)
    yogi.aggregate(1, {"w": torch.tensor([1.0])}, res)
    assert torch.allclose(adam.v_["w"], torch.tensor([4.75]))  # 0.75 * 5 + 0.25 * 4
    assert torch.allclose(yogi.v_["w"], torch.tensor([4.0]))  # 5 - 0.25 * 4
