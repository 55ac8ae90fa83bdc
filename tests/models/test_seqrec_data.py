import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset
from tandem.models.seqrec_data import (
    last_position_examples,
    leave_one_out_split,
    pad_left,
    training_windows,
    trim_left_padding,
)


def test_pad_left_keeps_the_newest_items():
    out = pad_left([np.array([1, 2, 3, 4]), np.array([7]), np.array([], dtype=np.int64)], 3)
    assert out.tolist() == [[2, 3, 4], [0, 0, 7], [0, 0, 0]]


def test_training_windows_cover_every_target_once():
    ds = SequenceDataset.from_sequences([[1, 2, 3, 4, 5, 6, 7], [8, 9], [5]])
    inputs, targets = training_windows(ds, max_len=3)
    assert inputs.tolist() == [[4, 5, 6], [1, 2, 3], [0, 0, 8]]
    assert targets.tolist() == [[5, 6, 7], [2, 3, 4], [0, 0, 9]]
    assert sorted(targets[targets > 0].tolist()) == [2, 3, 4, 5, 6, 7, 9]


def test_split_follows_leave_one_out_and_skips_short_users():
    ds = SequenceDataset.from_sequences([[1, 2, 3, 4, 5], [6, 7], [8, 9, 10]], n_items=10)
    split = leave_one_out_split(ds, max_len=4)
    assert split.users.tolist() == [0, 2]
    assert split.valid_targets.tolist() == [4, 9] and split.test_targets.tolist() == [5, 10]
    assert split.valid_histories.tolist() == [[0, 1, 2, 3], [0, 0, 0, 8]]
    assert split.test_histories.tolist() == [[1, 2, 3, 4], [0, 0, 8, 9]]
    assert split.test_seen.sequence(0).tolist() == [1, 2, 3, 4]
    assert split.train.sequence(1).tolist() == [6, 7]  # short users still train


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError):
        pad_left([np.array([1])], 0)
    with pytest.raises(ConfigError):
        training_windows(SequenceDataset.from_sequences([[1, 2]]), 0)
    with pytest.raises(ConfigError, match="3 or more"):
        leave_one_out_split(SequenceDataset.from_sequences([[1, 2], [3]]))


def test_last_position_examples_take_the_newest_targets_per_user():
    ds = SequenceDataset.from_sequences([[1, 2, 3, 4, 5], [6, 7], [8]])
    histories, targets = last_position_examples(ds, max_len=3, per_user=2)
    assert targets.tolist() == [4, 5, 7]
    assert histories.tolist() == [[1, 2, 3], [2, 3, 4], [0, 0, 6]]
    with pytest.raises(ConfigError):
        last_position_examples(ds, 3, per_user=0)


def test_trim_left_padding_drops_only_columns_no_row_uses():
    histories = np.array([[0, 0, 0, 4, 5], [0, 0, 2, 3, 1]])
    assert trim_left_padding(histories).tolist() == [[0, 4, 5], [2, 3, 1]]
    assert trim_left_padding(np.zeros((2, 4), dtype=np.int64)).shape == (2, 1)  # at least one column
    assert trim_left_padding(np.array([[1, 2, 3]])).tolist() == [[1, 2, 3]]
