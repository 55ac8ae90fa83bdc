import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models import WindowRecommender, count_parameters


def test_logits_cover_every_item_and_mask_padding():
    model = WindowRecommender(n_items=20, dim=4, hidden=8, window=3)
    logits = model(torch.tensor([[0, 1, 2], [3, 4, 5]]))
    assert logits.shape == (2, 21)
    assert torch.isinf(logits[:, 0]).all() and torch.isfinite(logits[:, 1:]).all()


def test_only_the_last_window_columns_matter():
    torch.manual_seed(0)
    model = WindowRecommender(n_items=10, dim=4, hidden=8, window=2).eval()
    wide = torch.tensor([[7, 1, 2], [9, 1, 2]])
    out = model(wide)
    assert torch.equal(out[0], out[1])
    assert torch.equal(out, model(wide[:, 1:]))


def test_padding_does_not_change_the_pooled_history():
    torch.manual_seed(0)
    model = WindowRecommender(n_items=10, dim=4, hidden=8, window=3).eval()
    padded = model(torch.tensor([[0, 0, 5]]))
    model.position_weight.data[:2] = 100.0  # weights of padded slots must not leak into the mean
    assert torch.allclose(padded, model(torch.tensor([[0, 0, 5]])))


@pytest.mark.parametrize("kwargs", [{"n_items": 1}, {"n_items": 5, "dim": 0}, {"n_items": 5, "dropout": 1.0}])
def test_bad_sizes_are_rejected(kwargs):
    with pytest.raises(ConfigError, match="WindowRecommender"):
        WindowRecommender(**kwargs)


def test_too_short_history_names_the_expected_shape():
    model = WindowRecommender(n_items=5, window=4)
    with pytest.raises(ConfigError, match=r"\[batch, >= 4\]"):
        model(torch.tensor([[1, 2]]))


def test_flops_and_parameters_grow_with_size():
    small, large = WindowRecommender(100, dim=8, hidden=16), WindowRecommender(100, dim=64, hidden=128)
    assert large.flops_per_example() > 5 * small.flops_per_example()
    assert count_parameters(large) > 5 * count_parameters(small)
    dim, hidden, window, items = 8, 16, 8, 100
    assert small.flops_per_example() == 2 * (window * dim + 2 * dim * hidden + dim * (items + 1))
