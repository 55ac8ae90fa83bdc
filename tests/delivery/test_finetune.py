import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.delivery.finetune import finetune_flops, finetune_on_sequence, finetuned_logits, trainable_names


def test_only_the_chosen_parameters_move_and_the_shared_model_is_untouched(trained_pair):
    _, device = trained_pair
    before = {n: p.detach().clone() for n, p in device.named_parameters()}
    local = finetune_on_sequence(device, np.array([3, 7, 1, 9, 4, 2]), steps=3, lr=1e-2)
    for name, p in device.named_parameters():
        assert torch.equal(p, before[name])
    moved = {n for n, p in local.named_parameters() if not torch.equal(p, before[n])}
    assert "item_embedding.weight" not in moved and moved <= set(trainable_names(device, "encoder")) and moved


def test_fine_tuning_on_a_sequence_makes_its_next_item_more_likely(trained_pair):
    _, device = trained_pair
    seq = np.array([5, 9, 5, 9, 5, 9, 5, 9, 5])
    history = torch.as_tensor(seq[None, -device.max_len :])
    with torch.no_grad():
        before = device(history).log_softmax(-1)[0, 9]
        local = finetune_on_sequence(device, seq, steps=10, lr=1e-2, trainable="all")
        after = local(history).log_softmax(-1)[0, 9]
    assert after > before


def test_batch_helper_gives_one_row_per_user_and_zero_steps_is_identity(trained_pair, tiny_split):
    _, device = trained_pair
    seqs = [tiny_split.test_seen.sequence(i) for i in range(4)]
    rows = finetuned_logits(device, seqs, tiny_split.test_histories[:4], steps=0)
    with torch.no_grad():
        torch.testing.assert_close(rows, device(torch.as_tensor(tiny_split.test_histories[:4])))
    assert finetune_flops(device, steps=2) > 2 * device.flops_per_example()


def test_bad_arguments_are_config_errors(trained_pair):
    _, device = trained_pair
    with pytest.raises(ConfigError, match="trainable"):
        trainable_names(device, "heads")
    with pytest.raises(ConfigError):
        finetune_on_sequence(device, np.array([1, 2, 3]), lr=0)
    with pytest.raises(ConfigError):
        finetuned_logits(device, [np.array([1, 2])], np.zeros((2, device.max_len), np.int64))
