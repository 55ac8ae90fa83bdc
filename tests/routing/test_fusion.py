import math

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing.fusion import cloud_log_probs, fuse_log_probs

NEG = float("-inf")


def test_cloud_log_probs_fills_the_floor() -> None:
    ids = torch.tensor([[2, 3], [1, 0]])
    logp = torch.tensor([[-1.0, -2.0], [NEG, NEG]])
    full, has = cloud_log_probs(ids, logp, n_items=4)
    assert has.tolist() == [True, False]
    assert full[0].tolist() == [-2.0, -2.0, -1.0, -2.0, -2.0]
    assert full[1].tolist() == [0.0] * 5


def test_fuse_log_probs_by_hand() -> None:
    small = torch.log(torch.tensor([[0.0, 0.5, 0.3, 0.2]]))  # item 0 padding -> -inf
    ids, logp = torch.tensor([[3]]), torch.tensor([[math.log(0.9)]])
    fused = fuse_log_probs(small, ids, logp, weight=0.5)
    floor = math.log(0.9)  # one candidate: the floor is its own log-prob
    assert fused[0, 0].item() == NEG
    assert fused[0, 1].item() == pytest.approx(0.5 * math.log(0.5) + 0.5 * floor)
    assert fused[0, 3].item() == pytest.approx(0.5 * math.log(0.2) + 0.5 * math.log(0.9))
    two = fuse_log_probs(small, torch.tensor([[3, 1]]), torch.tensor([[-0.1, -3.0]]), weight=0.5)
    assert two[0, 2].item() == pytest.approx(0.5 * math.log(0.3) + 0.5 * -3.0)  # non-candidate gets the floor
    assert torch.equal(fuse_log_probs(small, ids, torch.tensor([[NEG]]), 0.5), small)  # no answer: small only
    assert torch.equal(fuse_log_probs(small, ids, logp, 0.0), small)
    top = fuse_log_probs(small, torch.tensor([[3, 1]]), torch.tensor([[-0.1, -3.0]]), weight=1.0)
    assert top[0, 3] > top[0, 1] and top[0, 1] == top[0, 2] and top[0, 0] == NEG
    with pytest.raises(ConfigError):
        fuse_log_probs(small, ids, logp, 1.5)


def test_fuse_log_probs_takes_one_weight_per_row() -> None:
    small = torch.log_softmax(torch.randn(3, 6), 1)
    small[:, 0] = NEG
    ids, logp = torch.tensor([[1, 2], [3, 4], [5, 1]]), torch.tensor([[-0.5, -1.0], [-0.2, -2.0], [-1.0, -1.5]])
    rows = fuse_log_probs(small, ids, logp, torch.tensor([0.0, 0.5, 1.0]))
    for i, w in enumerate((0.0, 0.5, 1.0)):
        assert torch.allclose(rows[i], fuse_log_probs(small[i : i + 1], ids[i : i + 1], logp[i : i + 1], w)[0])
    assert rows[:, 0].eq(NEG).all()
    with pytest.raises(ConfigError):
        fuse_log_probs(small, ids, logp, torch.tensor([0.5, 0.5]))
    with pytest.raises(ConfigError):
        fuse_log_probs(small, ids, logp, torch.tensor([0.5, 0.5, -0.1]))
