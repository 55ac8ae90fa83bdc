import math

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing.signals import (
    FEATURES,
    NO_CACHE_AGE,
    SURPRISE_CAP,
    StepSignals,
    confidence_signals,
    feature_matrix,
    normalized_surprise,
    reciprocal_rank_at,
    reciprocal_rank_in_list,
    signals_from_features,
    topk_overlap,
)


def test_confidence_signals_by_hand() -> None:
    # p = (0.5, 0.25, 0.25) plus one excluded item: entropy 1.5 bits over log(3) nats normalised
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.25, 0.0]]))
    top1, ent, margin = confidence_signals(logp)
    assert top1.item() == pytest.approx(0.5)
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    assert ent.item() == pytest.approx(expected)
    assert margin.item() == pytest.approx(math.log(2))


def test_confidence_signals_uniform_and_single() -> None:
    top1, ent, _ = confidence_signals(torch.log(torch.full((1, 4), 0.25)))
    assert top1.item() == pytest.approx(0.25) and ent.item() == pytest.approx(1.0)
    _, _, margin = confidence_signals(torch.tensor([[0.0, float("-inf")]]))
    assert margin.item() == 0.0
    with pytest.raises(ConfigError, match="batch, classes"):
        confidence_signals(torch.zeros(3))


def test_topk_overlap_and_reciprocal_ranks() -> None:
    a = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    b = torch.tensor([[4, 3, 9, 0], [0, 0, 0, 0]])
    assert topk_overlap(a, b).tolist() == [0.5, 0.0]
    assert topk_overlap(a, b, torch.tensor([False, True])).tolist() == [0.0, 0.0]
    lists = torch.tensor([[7, 3, 9], [1, 2, 3]])
    assert reciprocal_rank_in_list(torch.tensor([3, 4]), lists).tolist() == [0.5, 0.0]
    assert reciprocal_rank_at(torch.tensor([0, 4, 10]), 10).tolist() == pytest.approx([1.0, 0.2, 0.0])
    with pytest.raises(ConfigError):
        topk_overlap(a, b[:1])


def _signals(n: int = 3) -> StepSignals:
    z = np.zeros(n)
    return StepSignals(device=np.arange(n), step=np.zeros(n, int), history_len=np.array([1, 5, 20][:n]),
                       confidence=np.full(n, 0.2), entropy=np.full(n, 0.9), margin=np.full(n, 0.1),
                       age=np.array([0.0, 3.0, NO_CACHE_AGE][:n]), has_cache=np.array([True, True, False][:n]),
                       overlap=np.full(n, 0.3), click_rr_cloud=z, click_rr_device=np.full(n, 0.5),
                       click_sim_cloud=z, held_mass=z, held_top=z)


def test_step_signals_validation_and_feature_round_trip() -> None:
    s = _signals()
    x = feature_matrix(s)
    assert x.shape == (3, len(FEATURES)) and x.dtype == np.float32
    back = signals_from_features(x)
    np.testing.assert_allclose(back.age, s.age, rtol=1e-5)
    np.testing.assert_array_equal(back.history_len, s.history_len)
    np.testing.assert_array_equal(back.has_cache, s.has_cache)
    with pytest.raises(ConfigError, match="rows"):
        StepSignals(**{**vars(_signals()), "age": np.zeros(2)})
    with pytest.raises(ConfigError, match="NaN"):
        StepSignals(**{**vars(_signals()), "entropy": np.array([0.1, np.nan, 0.2])})
    with pytest.raises(ConfigError):
        signals_from_features(np.zeros((2, 3)))


def test_from_probs() -> None:
    s = StepSignals.from_probs(np.array([[0.9, 0.1], [0.5, 0.5]]))
    assert s.confidence.tolist() == pytest.approx([0.9, 0.5])
    assert not s.has_cache.any() and len(s) == 2
    with pytest.raises(ConfigError):
        StepSignals.from_probs(np.array([0.3, 0.7]))


def test_next_known_defaults_to_zero_and_is_a_feature() -> None:
    signals = _signals()
    assert np.array_equal(signals.next_known, np.zeros(len(signals)))
    flagged = StepSignals(**{**vars(signals), "next_known": np.ones(len(signals))})
    x = feature_matrix(flagged)
    assert x.shape[1] == len(FEATURES) and np.all(x[:, FEATURES.index("next_known")] == 1)
    assert np.array_equal(signals_from_features(x).next_known, np.ones(len(signals)))


def test_normalized_surprise_is_one_for_a_uniform_guess_and_capped() -> None:
    n = torch.tensor([100, 100, 100, 1])
    logp = torch.tensor([-math.log(100), 0.0, float("-inf"), -0.5])
    got = normalized_surprise(logp, n)
    assert got[:3].tolist() == pytest.approx([1.0, 0.0, SURPRISE_CAP])
    assert got[3].item() == pytest.approx(0.5 / math.log(2))  # fewer than two candidates count as two
    assert normalized_surprise(torch.tensor([-1e9]), torch.tensor([10])).item() == SURPRISE_CAP
    with pytest.raises(ConfigError, match="normalized_surprise"):
        normalized_surprise(torch.zeros(3), torch.ones(2))


def test_surprise_signals_default_to_zero_and_round_trip_as_features() -> None:
    signals = _signals()
    assert not signals.click_surprise.any() and not signals.mean_surprise.any()
    x = feature_matrix(StepSignals(**{**vars(signals), "click_surprise": np.array([0.5, 1.0, 2.0]),
                                      "mean_surprise": np.array([0.7, 0.8, 0.9])}))
    back = signals_from_features(x)
    np.testing.assert_allclose(back.click_surprise, [0.5, 1.0, 2.0])
    np.testing.assert_allclose(back.mean_surprise, [0.7, 0.8, 0.9], rtol=1e-6)
