"""MovieLens 100K (GroupLens): 100,000 ratings of 1,682 movies by 943 users, Sep 1997 - Apr 1998.

Loaded as a flat interaction log (one row per rating) because that is how it is published; recommenders that
want sequences call :meth:`InteractionLog.to_sequences`. Terms: research use only, no redistribution (see
``shared/data/movielens-100k/SOURCE.md``); cite Harper & Konstan, TiiS 2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tandem.core.errors import DataError
from tandem.data._io import data_lines, int_table, line_error, read_text, resolve_folder
from tandem.data.download import RemoteFile, download_sources
from tandem.data.sequences import SequenceDataset

_BASE = "https://files.grouplens.org/datasets/movielens/ml-100k"
_SHA = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
}
#: Official GroupLens per-file URLs with the sha256 recorded in SOURCE.md.
SOURCES: tuple[RemoteFile, ...] = tuple(RemoteFile(f, f"{_BASE}/{f}", sha) for f, sha in _SHA.items())

GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


@dataclass(frozen=True)
class InteractionLog:
    """Explicit-feedback log, one row per rating, in file order.

    Fields:
        users, items: ``int64 [n_ratings]``, ids as published (users 1..n_users, items 1..n_items).
        ratings: ``int64 [n_ratings]`` in 1..5.
        timestamps: ``int64 [n_ratings]``, Unix seconds.
        n_users, n_items: id ranges (ids are contiguous from 1).
        item_titles: ``tuple[str]`` of length ``n_items + 1`` indexed by item id; entry 0 is "" (padding).
        item_genres: ``bool [n_items + 1, 19]`` genre flags indexed by item id (row 0 all False); see GENRES.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    n_users: int
    n_items: int
    item_titles: tuple[str, ...]
    item_genres: np.ndarray

    @property
    def n_ratings(self) -> int:
        return int(self.users.size)

    def to_sequences(self, min_rating: int | None = None) -> SequenceDataset:
        """Implicit feedback: each user's rated items, oldest first (a rating counts as an interaction).

        Rows with ``rating < min_rating`` are dropped when ``min_rating`` is set. Tie rule: ratings with the same
        timestamp are ordered by ascending item id, so the result is deterministic. Row ``u`` is user ``u + 1``
        (every user keeps a row, possibly empty after filtering); timestamps are kept.
        """
        keep = np.ones(self.n_ratings, bool) if min_rating is None else self.ratings >= min_rating
        users, items, times = self.users[keep], self.items[keep], self.timestamps[keep]
        order = np.lexsort((items, times, users))
        counts = np.bincount(users - 1, minlength=self.n_users)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        user_ids = np.arange(1, self.n_users + 1, dtype=np.int64)
        return SequenceDataset(items[order], offsets, self.n_items, user_ids, times[order])


def _read_items(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Parse ``u.item`` (latin-1, ``|``-separated: id, title, dates, URL, 19 genre flags)."""
    lines = data_lines(read_text(path, "latin-1"))
    titles = [""] * (len(lines) + 1)
    genres = np.zeros((len(lines) + 1, len(GENRES)), dtype=bool)
    for lineno, line in enumerate(lines, start=1):
        fields = line.split("|")
        if len(fields) != 5 + len(GENRES):
            raise line_error(path, lineno, f"expected {5 + len(GENRES)} '|'-separated fields, got {len(fields)}")
        if fields[0] != str(lineno) or any(f not in ("0", "1") for f in fields[5:]):
            raise line_error(path, lineno, "expected item id == line number and 0/1 genre flags")
        titles[lineno] = fields[1]
        genres[lineno] = [f == "1" for f in fields[5:]]
    return tuple(titles), genres


def download(dest: str | Path) -> Path:
    """Fetch the ml-100k files from files.grouplens.org into folder ``dest``, verified by sha256."""
    return download_sources(SOURCES, dest)


def load_movielens_100k(path: str | Path | None = None, download: bool = False) -> InteractionLog:
    """Load MovieLens 100K from folder ``path`` (default ``<data root>/movielens-100k``).

    Reads ``u.data`` (tab-separated ``user item rating timestamp``) and ``u.item``. Malformed lines raise
    :class:`DataError` naming file and line; ids must be contiguous from 1 and ratings in 1..5.
    """
    folder = resolve_folder("movielens-100k", path, download=download, sources=SOURCES,
                            required=["u.data", "u.item"])
    table = int_table(folder / "u.data", 4, sep="\t")
    titles, genres = _read_items(folder / "u.item")
    users, items, ratings, times = (np.ascontiguousarray(table[:, j]) for j in range(4))
    n_items = len(titles) - 1
    for what, values, high in (("user", users, int(users.max(initial=1))), ("item", items, n_items),
                               ("rating", ratings, 5)):
        bad = np.flatnonzero((values < 1) | (values > high))
        if bad.size:
            raise line_error(folder / "u.data", int(bad[0]) + 1, f"{what} {values[bad[0]]} outside 1..{high}")
    if users.size and np.unique(users).size != users.max():
        raise DataError(f"{folder / 'u.data'}: user ids are not contiguous from 1")
    return InteractionLog(users, items, ratings, times, int(users.max(initial=0)), n_items, titles, genres)
