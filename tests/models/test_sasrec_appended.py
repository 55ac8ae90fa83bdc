"""SASRec's appended user vectors (history + one more click, many clicks sharing a key/value cache)."""

import itertools

import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models.sasrec import SASRec

N_ITEMS = 40


def make_model(max_len: int = 7, n_layers: int = 3, n_heads: int = 4) -> SASRec:
    torch.manual_seed(1)
    model = SASRec(N_ITEMS, dim=16, n_layers=n_layers, n_heads=n_heads, max_len=max_len, ffn=24, dropout=0.3)
    with torch.no_grad():  # larger weights than the 0.02 init, so that attention is far from uniform
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, 0.3)
        model.item_embedding.weight[0].zero_()
    return model.eval()


def brute_force(model: SASRec, history: torch.Tensor, clicks: torch.Tensor) -> torch.Tensor:
    """The definition: one full forward per click."""
    context = history[:, -(model.max_len - 1):]
    return torch.stack([model.user_vector(torch.cat([context, clicks[:, j:j + 1]], 1))
                        for j in range(clicks.shape[1])], 1)


def random_history(batch: int, width: int, lengths: list[int]) -> torch.Tensor:
    """Left-padded histories: row ``b`` has ``lengths[b]`` real items."""
    history = torch.randint(1, N_ITEMS + 1, (batch, width))
    for row, length in enumerate(lengths):
        history[row, : width - length] = 0
    return history


@pytest.mark.parametrize(("width", "lengths"), [
    (7, [7, 7, 7]),  # full width (max_len): the oldest item drops out of the appended window
    (12, [12, 9, 7]),  # wider than max_len
    (6, [6, 6, 6]),  # exactly max_len - 1
    (9, [3, 1, 0]),  # short left-padded rows and an all-padding row
    (4, [4, 2, 0]),  # narrower than max_len - 1
    (1, [1, 1, 0]),  # width-1 history
])
def test_appended_vectors_equal_one_full_forward_per_click(width, lengths):
    model = make_model()
    history, clicks = random_history(3, width, lengths), torch.randint(1, N_ITEMS + 1, (3, 5))
    with torch.no_grad():
        fast, slow = model.appended_user_vectors(history, clicks), brute_force(model, history, clicks)
    assert fast.shape == (3, 5, model.dim)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("max_len", "n_layers", "n_heads"), [(1, 2, 2), (2, 1, 1), (7, 0, 1)])
def test_appended_vectors_at_small_windows_and_depths(max_len, n_layers, n_heads):
    """max_len 1: no history context at all (the click alone); max_len 2: one history item; no blocks."""
    model = make_model(max_len, n_layers, n_heads)
    history, clicks = random_history(2, 5, [5, 2]), torch.randint(1, N_ITEMS + 1, (2, 4))
    with torch.no_grad():
        fast = model.appended_user_vectors(history, clicks)
        torch.testing.assert_close(fast, brute_force(model, history, clicks), rtol=1e-5, atol=1e-5)
        if max_len == 1:
            torch.testing.assert_close(fast, model.appended_user_vectors(torch.zeros_like(history), clicks))


def test_each_click_sees_the_history_but_not_the_other_clicks():
    model = make_model()
    history = random_history(1, 7, [7])
    clicks = torch.tensor([[3, 8, 21]])
    with torch.no_grad():
        base = model.appended_user_vectors(history, clicks)
        other_clicks = model.appended_user_vectors(history, torch.tensor([[3, 30, 2]]))
        other_history = model.appended_user_vectors(history.flip(1), clicks)
    torch.testing.assert_close(base[:, 0], other_clicks[:, 0])
    assert not torch.allclose(base[:, 0], other_history[:, 0], atol=1e-3)
    assert not torch.allclose(base[:, 1], base[:, 2], atol=1e-3)


@pytest.mark.parametrize("clicks", [torch.ones(2, 3, dtype=torch.long), torch.ones(3, dtype=torch.long),
                                    torch.ones(3, 0, dtype=torch.long), torch.ones(3, 2)])
def test_bad_clicks_are_rejected_naming_the_argument(clicks):
    with pytest.raises(ConfigError, match="clicks"):
        make_model().appended_user_vectors(torch.ones(3, 5, dtype=torch.long), clicks)


def test_bad_history_is_rejected():
    with pytest.raises(ConfigError, match="history"):
        make_model().appended_user_vectors(torch.ones(3, dtype=torch.long), torch.ones(3, 2, dtype=torch.long))


def test_train_mode_with_dropout_is_refused():
    with pytest.raises(ConfigError, match="eval"):
        make_model().train().appended_user_vectors(torch.ones(1, 5, dtype=torch.long), torch.ones(1, 2,
                                                                                                 dtype=torch.long))


def test_appended_flops_are_linear_in_clicks_and_beat_one_forward_per_click():
    model = SASRec(1682, dim=32, n_layers=2, n_heads=2, max_len=20, ffn=64)
    flops = [model.appended_flops(n) for n in range(6)]
    steps = {b - a for a, b in itertools.pairwise(flops)}
    assert len(steps) == 1 and steps.pop() > 0
    for n in range(2, 6):
        assert flops[n] < n * model.flops_per_example()
        assert model.appended_flops(n, n_candidates=100) < n * model.flops_per_example(n_candidates=100)
    assert model.appended_flops(3, n_candidates=0) < model.appended_flops(3)


def test_appended_flops_without_history_context_is_one_forward_per_click():
    model = SASRec(50, dim=8, n_layers=2, n_heads=2, max_len=1, ffn=16)
    assert model.appended_flops(4) == 4 * model.flops_per_example()
    with pytest.raises(ConfigError, match="n_clicks"):
        model.appended_flops(-1)
