import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models import count_parameters
from tandem.models.gru4rec import GRU4Rec
from tandem.models.sasrec import SASRec
from tandem.models.seqrec import build_seqrec, causal_padding_mask, rebuild_seqrec


@pytest.fixture(params=["sasrec", "gru4rec"])
def model(request):
    torch.manual_seed(0)
    return build_seqrec(request.param, n_items=30, max_len=8, size="small").eval()


def test_forward_scores_every_item_and_never_padding(model):
    logits = model(torch.randint(1, 31, (3, 8)))
    assert logits.shape == (3, 31)
    assert torch.isneginf(logits[:, 0]).all() and torch.isfinite(logits[:, 1:]).all()


def test_left_padding_does_not_change_the_prediction(model):
    """A history padded to more columns (or to max_len) is the same history."""
    short = torch.tensor([[4, 9, 2]])
    padded = torch.tensor([[0, 0, 0, 0, 0, 4, 9, 2]])
    torch.testing.assert_close(model(short), model(padded), rtol=1e-5, atol=1e-5)


def test_sasrec_is_causal_future_items_do_not_leak_into_earlier_positions():
    model = SASRec(20, dim=8, n_layers=2, n_heads=2, max_len=6, dropout=0.0).eval()
    a, b = torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.tensor([[1, 2, 3, 4, 5, 19]])
    ha, hb = model.encode(a), model.encode(b)
    torch.testing.assert_close(ha[:, :5], hb[:, :5])
    assert not torch.allclose(ha[:, 5], hb[:, 5])


def test_candidate_scores_equal_the_matching_full_logits(model):
    history = torch.randint(1, 31, (2, 8))
    candidates = torch.tensor([[3, 7, 30], [1, 2, 3]])
    full = model(history)
    torch.testing.assert_close(model.score_candidates(history, candidates), full.gather(1, candidates))


def test_mask_lets_padded_queries_attend_to_themselves_only():
    mask = causal_padding_mask(torch.tensor([[0, 0, 5, 6]]))[0, 0]
    assert mask[0].tolist() == [True, False, False, False]
    assert mask[3].tolist() == [False, False, True, True]


def test_named_sizes_make_the_device_model_about_ten_times_smaller():
    large, small = (build_seqrec("sasrec", 12101, 50, size) for size in ("large", "small"))
    assert 8 <= count_parameters(large) / count_parameters(small) <= 12
    assert large.flops_per_example() > 10 * small.flops_per_example()
    assert small.flops_per_example(n_candidates=100) < small.flops_per_example()


def test_rebuild_from_config_gives_the_same_architecture(model):
    clone = rebuild_seqrec(model.arch, model.config())
    clone.load_state_dict(model.state_dict())
    history = torch.randint(1, 31, (2, 8))
    torch.testing.assert_close(clone.eval()(history), model(history))


@pytest.mark.parametrize("kwargs", [dict(n_items=1), dict(n_items=10, dim=6, n_heads=4), dict(n_items=10, dropout=1.0),
                                    dict(n_items=10, max_len=0)])
def test_sasrec_rejects_bad_configuration(kwargs):
    with pytest.raises(ConfigError):
        SASRec(**kwargs)


def test_gru4rec_rejects_bad_configuration():
    with pytest.raises(ConfigError, match="GRU4Rec"):
        GRU4Rec(10, hidden=0)


BAD_HISTORIES = [torch.zeros(3, dtype=torch.long), torch.zeros(2, 4), torch.zeros(2, 0, dtype=torch.long)]


@pytest.mark.parametrize("bad", BAD_HISTORIES)
def test_bad_history_is_a_config_error(model, bad):
    with pytest.raises(ConfigError):
        model(bad)


def test_unknown_arch_or_size_is_a_config_error():
    with pytest.raises(ConfigError, match="arch"):
        build_seqrec("bert4rec", 10)
    with pytest.raises(ConfigError, match="size"):
        build_seqrec("sasrec", 10, size="huge")
    with pytest.raises(ConfigError):
        SASRec(10).score_candidates(torch.ones(2, 3, dtype=torch.long), torch.ones(3, 2, dtype=torch.long))


def test_flops_grow_with_depth_and_catalogue():
    assert SASRec(100, n_layers=2).flops_per_example() > SASRec(100, n_layers=1).flops_per_example()
    assert GRU4Rec(1000).flops_per_example() > GRU4Rec(100).flops_per_example()
    assert np.isfinite(GRU4Rec(100, n_layers=2).flops_per_example())
