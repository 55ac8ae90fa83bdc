from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError, DataError, DataNotFoundError
from tandem.data.sequences import SequenceDataset, leave_one_out, load_s3rec

from .conftest import real_folder


def test_real_beauty_counts(data_root: Path) -> None:
    ds = load_s3rec(real_folder(data_root, "amazon-s3rec"))
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (22_363, 12_101, 198_502)
    assert ds.user_ids.tolist() == list(range(1, 22_364))
    assert (ds.lengths.min(), ds.lengths.max()) == (5, 204)
    assert np.unique(ds.items).size == 12_101
    split = leave_one_out(ds)
    assert (split.test_targets > 0).all() and split.train.n_interactions == 198_502 - 2 * 22_363


def test_tiny_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "Tiny.txt"
    path.write_text("1 1 2 3 4\n2 5 4\n3 2\n")
    for where in (path, tmp_path):  # the file itself or its folder
        ds = load_s3rec(where, name="Tiny")
        assert ds.n_users == 3 and ds.n_items == 5 and ds.n_interactions == 7
        assert {u: s.tolist() for u, s in ds.to_dict().items()} == {1: [1, 2, 3, 4], 2: [5, 4], 3: [2]}


@pytest.mark.parametrize(("text", "line"), [("1 1 2\n2 x\n", 2), ("1 1 2\n\n3 4\n", 2), ("1 1\n2 0 3\n", 2)])
def test_malformed(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "Bad.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"Bad\.txt:{line}: "):
        load_s3rec(path)


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"Beauty\.txt"):
        load_s3rec(tmp_path)


def test_leave_one_out_protocol() -> None:
    ds = SequenceDataset.from_sequences([[1, 2, 3, 4], [5, 6, 7], [1, 2], [3], []], n_items=7)
    train, valid, test = leave_one_out(ds)
    assert [s.tolist() for s in train] == [[1, 2], [5], [1, 2], [3], []]
    assert valid.tolist() == [3, 6, 0, 0, 0] and test.tolist() == [4, 7, 0, 0, 0]
    history = leave_one_out(ds).test_history()
    assert [s.tolist() for s in history] == [[1, 2, 3], [5, 6], [1, 2], [3], []]
    assert history.user_ids.tolist() == ds.user_ids.tolist()


def test_truncate_keeps_timestamps() -> None:
    ds = SequenceDataset(np.array([1, 2, 3, 4]), np.array([0, 3, 4]), 4, np.array([10, 11]), np.array([5, 6, 7, 8]))
    cut = ds.truncate(1)
    assert [s.tolist() for s in cut] == [[1, 2], []]
    assert cut.timestamps is not None and cut.timestamps.tolist() == [5, 6]


def test_validation() -> None:
    with pytest.raises(ConfigError, match="offsets"):
        SequenceDataset(np.array([1, 2]), np.array([0, 1]), 2, np.array([0]))
    with pytest.raises(ConfigError, match="item ids"):
        SequenceDataset(np.array([0, 2]), np.array([0, 2]), 2, np.array([0]))
    with pytest.raises(ConfigError, match="user_ids"):
        SequenceDataset(np.array([1, 2]), np.array([0, 2]), 2, np.array([0, 1]))
