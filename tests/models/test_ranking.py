import math

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models import WindowRecommender
from tandem.models.ranking import (
    evaluate_ranking,
    hit_rate_and_ndcg,
    next_item_examples,
    rank_of_target,
    train_next_item,
)


def test_examples_are_left_padded_windows_before_each_position():
    histories, targets = next_item_examples([np.array([5, 6, 7, 8])], window=2, start=1)
    assert histories.tolist() == [[0, 5], [5, 6], [6, 7]]
    assert targets.tolist() == [6, 7, 8]


def test_start_and_negative_stop_select_a_time_slice():
    histories, targets = next_item_examples([np.arange(1, 11)], window=3, start=5, stop=-2)
    assert targets.tolist() == [6, 7, 8]
    assert histories[0].tolist() == [3, 4, 5]


def test_empty_selection_gives_empty_arrays_and_bad_window_is_an_error():
    histories, targets = next_item_examples([np.array([1, 2])], window=3, start=5)
    assert histories.shape == (0, 3) and targets.shape == (0,)
    with pytest.raises(ConfigError):
        next_item_examples([np.array([1, 2])], window=0)


def test_rank_counts_higher_scores_and_ties_pessimistically():
    logits = torch.tensor([[0.1, 0.9, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]])
    ranks = rank_of_target(logits, torch.tensor([2, 0]))
    assert ranks.tolist() == [2, 0]


def test_hit_rate_and_ndcg_by_hand():
    hr, ndcg = hit_rate_and_ndcg(torch.tensor([0, 1, 5, 20]), k=10)
    assert hr == pytest.approx(3 / 4)
    assert ndcg == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7)) / 4)


def test_training_beats_an_untrained_model_on_a_deterministic_chain():
    # item i is always followed by i + 1: a trained model must rank the successor first
    sequences = [np.arange(1, 21)] * 30
    histories, targets = next_item_examples(sequences, window=2)
    torch.manual_seed(0)
    model = WindowRecommender(20, dim=16, hidden=16, window=2)
    before = evaluate_ranking(model, histories, targets, k=1)["hr@1"]
    train_next_item(model, histories, targets, epochs=30, lr=3e-2, batch_size=64)
    after = evaluate_ranking(model, histories, targets, k=1)["hr@1"]
    assert after > 0.9 > before


def test_training_without_examples_is_an_error():
    with pytest.raises(ConfigError, match="no training examples"):
        train_next_item(WindowRecommender(5), np.zeros((0, 8), np.int64), np.zeros(0, np.int64))
