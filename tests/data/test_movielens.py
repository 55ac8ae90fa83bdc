from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import DataError, DataNotFoundError
from tandem.data.movielens import GENRES, load_movielens_100k

from .conftest import real_folder


def _write(folder: Path, data: str, n_items: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(data)
    flags = "|".join(["0"] * len(GENRES))
    lines = [f"{i}|Caf\xe9 {i} (1995)|01-Jan-1995||http://x|{flags}" for i in range(1, n_items + 1)]
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


def test_real_counts(data_root: Path) -> None:
    log = load_movielens_100k(real_folder(data_root, "movielens-100k"))
    assert (log.n_users, log.n_items, log.n_ratings) == (943, 1682, 100_000)
    assert np.bincount(log.ratings, minlength=6)[1:].tolist() == [6110, 11370, 27145, 34174, 21201]
    assert log.item_titles[1] == "Toy Story (1995)"
    seqs = log.to_sequences()
    assert seqs.n_users == 943 and seqs.n_interactions == 100_000 and seqs.lengths.min() >= 20
    assert seqs.timestamps is not None
    for u in (0, 500, 942):
        t = seqs.timestamps[seqs.offsets[u] : seqs.offsets[u + 1]]
        assert np.all(np.diff(t) >= 0)


def test_tiny_round_trip_and_tie_rule(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ml", "2\t3\t5\t100\n1\t2\t4\t50\n1\t3\t1\t50\n1\t1\t3\t10\n2\t1\t2\t100\n")
    log = load_movielens_100k(folder)
    assert (log.n_users, log.n_items, log.n_ratings) == (2, 3, 5)
    assert log.item_titles[2] == "Caf\xe9 2 (1995)"
    seqs = log.to_sequences()
    assert seqs.sequence(0).tolist() == [1, 2, 3]  # items 2 and 3 tie at t=50: ascending item id
    assert seqs.sequence(1).tolist() == [1, 3]  # tie at t=100
    assert seqs.user_ids.tolist() == [1, 2]
    liked = log.to_sequences(min_rating=4)
    assert liked.sequence(0).tolist() == [2] and liked.sequence(1).tolist() == [3]


@pytest.mark.parametrize(
    ("data", "line", "what"),
    [
        ("1\t1\t5\t10\n1\t2\tx\t11\n", 2, "not an integer"),
        ("1\t1\t5\t10\n1\t2\t5\n", 2, "expected 4 fields"),
        ("1\t1\t5\t10\n1\t9\t5\t11\n", 2, "item 9 outside"),
        ("1\t1\t5\t10\n1\t2\t7\t11\n", 2, "rating 7 outside"),
    ],
)
def test_malformed_names_file_and_line(tmp_path: Path, data: str, line: int, what: str) -> None:
    folder = _write(tmp_path / "ml", data)
    with pytest.raises(DataError, match=rf"u\.data:{line}: .*{what}"):
        load_movielens_100k(folder)


def test_malformed_item_file(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ml", "1\t1\t5\t10\n")
    (folder / "u.item").write_text("1|only|three\n")
    with pytest.raises(DataError, match=r"u\.item:1: "):
        load_movielens_100k(folder)


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"u\.data.*download=True"):
        load_movielens_100k(tmp_path)
