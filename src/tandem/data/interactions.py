"""A user's own interaction log as per-user item sequences: CSV/TSV, RecBole ``.inter`` or the S3-Rec text format.

Every loader returns a :class:`~tandem.data.sequences.SequenceDataset`, the form the recommenders and the
``delivery`` / ``route`` benches read:

* **CSV / TSV** with a header row: one interaction per row, the user and item columns named by arguments,
  optionally a timestamp column (each user's items are ordered by it; ties and files without one keep file
  order) and a rating column (with ``min_rating``, lower-rated rows are dropped);
* **RecBole atomic files** (``.inter``): tab-separated with a typed header
  (``user_id:token\\titem_id:token\\trating:float\\ttimestamp:float``); columns are named without their type;
* **S3-Rec** (``.txt``): ``user item1 item2 ...`` per line, items in order (:func:`~tandem.data.sequences.parse_s3rec`).

User and item values are any text. Items are numbered ``1..n_items`` in order of first appearance (0 stays the
padding id); users keep their own id when every user id is an integer, else they are numbered from 1 in order
of first appearance. Every malformed input raises :class:`~tandem.core.errors.DataError` naming the file, the
line and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from tandem.core.errors import ConfigError, DataError
from tandem.data._delimited import Delimited, check_file, read_delimited
from tandem.data._io import line_error
from tandem.data.sequences import SequenceDataset, parse_s3rec

InteractionFormat = Literal["auto", "csv", "tsv", "recbole", "s3rec"]
INTERACTION_FORMATS: tuple[str, ...] = ("auto", "csv", "tsv", "recbole", "s3rec")
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".inter": "recbole", ".txt": "s3rec"}


def interaction_format(path: str | Path, format: str = "auto") -> str:
    """The format of ``path``: ``format`` itself, or (``"auto"``) the one its suffix names."""
    if format not in INTERACTION_FORMATS:
        raise ConfigError(f"interaction format must be one of {', '.join(INTERACTION_FORMATS)}, got {format!r}")
    if format != "auto":
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise ConfigError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; name it "
                          f"(csv, tsv, recbole or s3rec) or use .csv, .tsv, .inter or .txt")
    return _BY_SUFFIX[suffix]


def load_interactions(
    path: str | Path,
    *,
    format: str = "auto",
    user: str = "user_id",
    item: str = "item_id",
    timestamp: str | None = "auto",
    rating: str | None = None,
    min_rating: float | None = None,
    sep: str | None = None,
) -> SequenceDataset:
    """Load an interaction log as per-user sequences (see the module docstring for the formats).

    ``format``: ``"auto"`` (by suffix: ``.csv``, ``.tsv``, ``.inter``, ``.txt``), ``"csv"``, ``"tsv"``,
    ``"recbole"`` or ``"s3rec"``. ``user`` / ``item``: the columns holding user and item ids (CSV, TSV, RecBole).
    ``timestamp``: the column that orders each user's items; ``"auto"`` uses a column named ``timestamp`` when
    the header has one, None keeps file order. ``rating`` / ``min_rating``: drop rows rated below
    ``min_rating`` (needs ``rating``). ``sep``: the separator (default: from the format, or sniffed).
    """
    p = check_file(path, "interaction file")
    kind = interaction_format(p, format)
    if min_rating is not None and rating is None:
        raise ConfigError("min_rating needs the rating column's name (rating=...)")
    if kind == "s3rec":
        if rating is not None or min_rating is not None:
            raise ConfigError(f"{p}: an S3-Rec file has no ratings; drop the rating column and min_rating")
        return parse_s3rec(p)
    if kind == "recbole":
        table = read_delimited(p, sep or "\t", quoting=False)
        table = _strip_recbole_types(table)
    else:
        table = read_delimited(p, sep or {"csv": ",", "tsv": "\t"}[kind])
    return log_to_sequences(table, user=user, item=item, timestamp=timestamp, rating=rating, min_rating=min_rating)


def _strip_recbole_types(table: Delimited) -> Delimited:
    """Check a RecBole header (``name:type`` fields) and return the table with plain column names."""
    names = []
    for k, field in enumerate(table.header):
        name, sep, kind = field.rpartition(":")
        if not sep or not name or kind not in RECBOLE_TYPES:
            raise line_error(table.path, 1, f"column {k + 1}: header field {field!r} is not 'name:type' with type "
                                            f"one of {', '.join(RECBOLE_TYPES)} (RecBole atomic-file header)")
        names.append(name)
    return Delimited(table.path, names, table.rows, table.lines)


def log_to_sequences(
    table: Delimited,
    *,
    user: str = "user_id",
    item: str = "item_id",
    timestamp: str | None = "auto",
    rating: str | None = None,
    min_rating: float | None = None,
) -> SequenceDataset:
    """Group a parsed interaction table by user into chronological sequences (see :func:`load_interactions`)."""
    u_col = table.column(user, "users")
    i_col = table.column(item, "items")
    if timestamp == "auto":
        timestamp = "timestamp" if "timestamp" in table.header else None
    times = None if timestamp is None else table.floats(table.column(timestamp, "timestamps"), "timestamps")
    users = table.tokens(u_col, "user id")
    items = table.tokens(i_col, "item id")
    keep = np.ones(len(users), dtype=bool)
    if rating is not None:
        ratings = table.floats(table.column(rating, "ratings"), "ratings")
        if min_rating is not None:
            keep = ratings >= min_rating
            if not keep.any():
                raise DataError(f"{table.path}: no row has {rating} >= {min_rating} "
                                f"(ratings run {ratings.min():g}..{ratings.max():g}); lower min_rating")
    rows = np.flatnonzero(keep)
    user_index: dict[str, int] = {}
    item_index: dict[str, int] = {}
    u = np.array([user_index.setdefault(users[r], len(user_index)) for r in rows], dtype=np.int64)
    it = np.array([item_index.setdefault(items[r], len(item_index) + 1) for r in rows], dtype=np.int64)
    t = np.zeros(rows.size) if times is None else times[rows]
    order = np.lexsort((np.arange(rows.size), t, u))  # by user, then time, then file order
    counts = np.bincount(u, minlength=len(user_index))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    names = list(user_index)
    try:
        user_ids = np.array([int(name) for name in names], dtype=np.int64)
    except (ValueError, OverflowError):
        user_ids = np.arange(1, len(names) + 1, dtype=np.int64)
    seconds = None if times is None else np.round(t[order]).astype(np.int64)
    return SequenceDataset(it[order], offsets, len(item_index), user_ids, seconds)
