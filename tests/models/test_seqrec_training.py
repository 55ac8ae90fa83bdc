import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models.seqrec import build_seqrec
from tandem.models.seqrec_eval import evaluate_seqrec
from tandem.models.seqrec_training import (
    fit_seqrec,
    length_bucketed_batches,
    sampled_softmax_loss,
)


@pytest.mark.parametrize("arch", ["sasrec", "gru4rec"])
def test_training_beats_the_untrained_model_and_keeps_the_best_epoch(tiny_split, arch):
    model = build_seqrec(arch, tiny_split.n_items, tiny_split.max_len, "small", dim=16)
    before = evaluate_seqrec(model, tiny_split.test_histories, tiny_split.test_targets, seen=tiny_split.test_seen)
    rows = []
    result = fit_seqrec(model, tiny_split.train, tiny_split, epochs=8, batch_size=32, lr=5e-3, patience=3,
                        on_epoch=rows.append)
    after = evaluate_seqrec(model, tiny_split.test_histories, tiny_split.test_targets, seen=tiny_split.test_seen)
    assert after["ndcg@10"] > before["ndcg@10"] + 0.05
    assert len(rows) == result.epochs_run and result.best_epoch >= 1
    best = max(row["ndcg@10"] for row in rows)
    assert result.best_metrics["ndcg@10"] == best
    valid = evaluate_seqrec(model, tiny_split.valid_histories, tiny_split.valid_targets, seen=tiny_split.valid_seen)
    assert valid["ndcg@10"] == pytest.approx(best)  # the best weights were restored


def test_sampled_softmax_trains_too(tiny_split):
    model = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small")
    result = fit_seqrec(model, tiny_split.train, None, epochs=3, batch_size=32, lr=5e-3,
                        loss_fn=sampled_softmax_loss(10, seed=1))
    assert result.curve[-1]["loss"] < result.curve[0]["loss"]
    assert result.stopped == "epochs"


def test_sampled_softmax_is_cross_entropy_over_target_and_drawn_negatives_minus_accidental_hits():
    model = build_seqrec("sasrec", 6, 4, "small").eval()
    inputs, targets = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[2, 3, 4, 5]])
    where = targets > 0
    negatives = torch.randint(1, 7, (8,), generator=torch.Generator().manual_seed(3))
    hidden = model.encode(inputs)[where]
    table = model.item_embedding.weight
    expected = []
    for h, t in zip(hidden, targets[where], strict=True):
        scores = torch.cat([(h * table[t]).sum().view(1), (h @ table[negatives].T)[negatives != t]])
        expected.append(torch.logsumexp(scores, 0) - scores[0])
    got = sampled_softmax_loss(8, seed=3)(model, inputs, targets[where], where)
    assert float(got.detach()) == pytest.approx(float(torch.stack(expected).mean().detach()), rel=1e-5)


def test_bucketed_batches_cover_every_row_once_with_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    batches = length_bucketed_batches(lengths, 32, np.random.default_rng(1), bucket_batches=8)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths)


def test_bad_arguments_are_config_errors(tiny_split):
    model = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small")
    with pytest.raises(ConfigError):
        fit_seqrec(model, tiny_split.train, epochs=0)
    with pytest.raises(ConfigError, match="items"):
        fit_seqrec(build_seqrec("sasrec", 99, 5), tiny_split.train)
    with pytest.raises(ConfigError):
        sampled_softmax_loss(0)
