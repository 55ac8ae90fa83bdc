import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing.rerank import fresh_click_similarity, rerank_scores

NEG = float("-inf")


def test_fresh_click_similarity_by_hand() -> None:
    vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    sim = fresh_click_similarity(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 0]]), vectors)
    assert sim[0].tolist() == pytest.approx([1.0, 0.0, 2 ** -0.5])
    assert fresh_click_similarity(torch.tensor([[1, 2]]), torch.tensor([[0, 0]]), vectors).tolist() == [[0.0, 0.0]]
    assert fresh_click_similarity(torch.tensor([[1]]), torch.zeros(1, 0, dtype=torch.long), vectors).tolist() == [[0.0]]
    with pytest.raises(ConfigError):
        fresh_click_similarity(torch.tensor([1]), torch.tensor([[1]]), vectors)


def test_rerank_scores_by_hand() -> None:
    cloud = torch.tensor([[-1.0, -2.0, NEG]])
    small = torch.tensor([[-3.0, -0.5, -1.0]])
    sim = torch.tensor([[0.0, 1.0, 1.0]])
    out = rerank_scores(cloud, small, sim, (1.0, 0.5, 2.0))
    assert out[0, :2].tolist() == pytest.approx([-2.5, -0.25]) and out[0, 2].item() == NEG
    with pytest.raises(ConfigError):
        rerank_scores(cloud, small, sim, (-1.0, 1.0, 1.0))
