import math

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset
from tandem.models.seqrec_eval import (
    evaluate_logits,
    evaluate_seqrec,
    metrics_from_ranks,
    sample_negatives,
    seen_mask_indices,
    target_ranks,
)


def fixed_scorer(scores: list[float]):
    """A scorer that gives every user the same item scores (index = item id, 0 = padding)."""
    row = torch.tensor([float("-inf"), *scores])
    return lambda history: row.expand(history.shape[0], -1).clone()


def test_full_ranking_rank_is_the_number_of_items_scored_above_the_target():
    scorer = fixed_scorer([0.9, 0.8, 0.7, 0.6, 0.5])  # items 1..5
    ranks = target_ranks(scorer, np.zeros((3, 2), np.int64), np.array([1, 3, 5]))
    assert ranks.tolist() == [0, 2, 4]


def test_excluding_seen_items_lifts_the_target_but_never_removes_it():
    scorer = fixed_scorer([0.9, 0.8, 0.7, 0.6, 0.5])
    seen = SequenceDataset.from_sequences([[1, 2], [3, 1]], n_items=5)
    ranks = target_ranks(scorer, np.zeros((2, 2), np.int64), np.array([3, 3]), seen=seen)
    assert ranks.tolist() == [0, 1]  # row 0: items 1, 2 removed; row 1: item 1 removed, target 3 kept


def test_metrics_match_hand_computed_values():
    ranks = torch.tensor([0, 1, 10, 30])
    m = metrics_from_ranks(ranks, ks=(5, 20))
    assert m["hr@5"] == pytest.approx(0.5) and m["hr@20"] == pytest.approx(0.75)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(12)) / 4)


def test_sampled_protocol_ranks_among_unseen_negatives_only():
    seen = SequenceDataset.from_sequences([[1, 2, 3]], n_items=50)
    neg = sample_negatives(50, np.array([4]), 20, seen, seed=1)
    assert neg.shape == (1, 20) and len(set(neg[0].tolist())) == 20
    assert not set(neg[0].tolist()) & {1, 2, 3, 4}
    scorer = fixed_scorer(list(np.linspace(1, 0, 50)))  # item 1 best ... item 50 worst
    full = evaluate_seqrec(scorer, np.zeros((1, 2), np.int64), np.array([25]), ks=(10,))
    sampled = evaluate_seqrec(scorer, np.zeros((1, 2), np.int64), np.array([25]), ks=(10,), negatives=5, seed=0)
    assert full["hr@10"] == 0.0 and sampled["hr@10"] == 1.0  # 5 negatives: rank <= 5 < 10


def test_seen_mask_indices_follow_the_rows_asked_for():
    seen = SequenceDataset.from_sequences([[1], [2, 3], [4, 5, 6]], n_items=6)
    rows, items = seen_mask_indices(seen, np.array([2, 0]))
    assert rows.tolist() == [0, 0, 0, 1] and items.tolist() == [4, 5, 6, 1]


def test_evaluate_logits_agrees_with_the_scorer_path():
    scorer = fixed_scorer([0.3, 0.9, 0.1, 0.5])
    histories, targets = np.zeros((2, 3), np.int64), np.array([1, 4])
    logits = scorer(torch.as_tensor(histories))
    assert evaluate_logits(logits, targets) == evaluate_seqrec(scorer, histories, targets)


def test_bad_shapes_are_config_errors():
    scorer = fixed_scorer([0.1, 0.2])
    with pytest.raises(ConfigError):
        target_ranks(scorer, np.zeros(3, np.int64), np.array([1, 2, 1]))
    with pytest.raises(ConfigError, match="seen"):
        target_ranks(scorer, np.zeros((2, 2), np.int64), np.array([1, 2]),
                     seen=SequenceDataset.from_sequences([[1]], n_items=2))
    with pytest.raises(ConfigError):
        sample_negatives(5, np.array([1]), 5)
    with pytest.raises(ConfigError):
        evaluate_logits(torch.zeros(2, 3), np.array([1]))


@pytest.mark.parametrize("arch", ["sasrec", "gru4rec"])
def test_trimming_padding_columns_keeps_every_rank(tiny_split, arch):
    from tandem.models.seqrec import build_seqrec

    model = build_seqrec(arch, tiny_split.n_items, tiny_split.max_len, "small", dim=8).eval()
    args = (model, tiny_split.test_histories, tiny_split.test_targets)
    trimmed = target_ranks(*args, seen=tiny_split.test_seen, batch_size=16)
    full = target_ranks(*args, seen=tiny_split.test_seen, batch_size=16, trim_padding=False)
    assert (tiny_split.test_histories == 0).any()  # the split has padding to trim
    assert torch.equal(trimmed, full)
