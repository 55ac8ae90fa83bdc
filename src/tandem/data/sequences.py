"""Per-user chronological item sequences: the common currency of tandem's recommenders.

Item ids run 1..n_items and 0 is never an item, so models can use it as padding (``nn.Embedding(n_items + 1,
..., padding_idx=0)``) and splits can use it as "no target". Sequences are stored ragged (CSR style: one flat
``items`` array plus ``offsets``) so a fleet of 100k users costs two arrays, not 100k Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tandem.core.errors import ConfigError, DataNotFoundError
from tandem.data._io import data_lines, line_error, read_text, resolve_folder
from tandem.data.download import RemoteFile, download_sources

_S3REC = "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/2a81540ae18615d88ef88227b0c066e5b74781e5/data"

#: Official files (S3-Rec repository, pinned commit) and sha256 from shared/data/amazon-s3rec/SOURCE.md.
SOURCES: tuple[RemoteFile, ...] = (
    RemoteFile(
        "Beauty.txt", f"{_S3REC}/Beauty.txt", "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"
    ),
)


@dataclass(frozen=True)
class SequenceDataset:
    """Ragged per-user item sequences in chronological order.

    Fields:
        items: ``int64 [n_interactions]``, all sequences concatenated; values in 1..n_items.
        offsets: ``int64 [n_users + 1]``; user ``u``'s sequence is ``items[offsets[u]:offsets[u + 1]]``.
        n_items: size of the item vocabulary (excluding padding id 0).
        user_ids: ``int64 [n_users]``, the data set's own id of each row (S3-Rec / MovieLens user id).
        timestamps: ``int64 [n_interactions]`` aligned with ``items``, or None when the source has no times.
    """

    items: np.ndarray
    offsets: np.ndarray
    n_items: int
    user_ids: np.ndarray
    timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("items", "offsets", "user_ids"):  # accept lists / other int dtypes, store int64
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        if self.timestamps is not None:
            object.__setattr__(self, "timestamps", np.asarray(self.timestamps, dtype=np.int64))
        off = self.offsets
        if off.ndim != 1 or off.size == 0 or off[0] != 0 or off[-1] != self.items.size or np.any(np.diff(off) < 0):
            raise ConfigError("SequenceDataset: offsets must start at 0, be non-decreasing and end at len(items)")
        if self.user_ids.shape != (off.size - 1,):
            raise ConfigError(f"SequenceDataset: {self.user_ids.size} user_ids for {off.size - 1} sequences")
        if self.items.size and (self.items.min() < 1 or self.items.max() > self.n_items):
            raise ConfigError(f"SequenceDataset: item ids must lie in 1..{self.n_items}")
        if self.timestamps is not None and self.timestamps.shape != self.items.shape:
            raise ConfigError("SequenceDataset: timestamps must align with items")

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[Sequence[int] | np.ndarray], n_items: int | None = None,
        user_ids: Sequence[int] | np.ndarray | None = None,
    ) -> SequenceDataset:
        """Build from a list of per-user item lists; ``n_items`` defaults to the largest id seen."""
        arrays = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
        lengths = np.array([a.size for a in arrays], dtype=np.int64)
        items = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.arange(len(arrays), dtype=np.int64) if user_ids is None else np.asarray(user_ids, np.int64)
        return cls(items, offsets, int(items.max(initial=0) if n_items is None else n_items), ids)

    @property
    def n_users(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def n_interactions(self) -> int:
        return int(self.items.size)

    @property
    def lengths(self) -> np.ndarray:
        """``int64 [n_users]`` sequence lengths."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return self.n_users

    def sequence(self, u: int) -> np.ndarray:
        """Row ``u``'s items (a view, oldest first)."""
        return self.items[self.offsets[u] : self.offsets[u + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.sequence(u) for u in range(self.n_users))

    def to_dict(self) -> dict[int, np.ndarray]:
        """``{user_id: items}``, for code that wants a mapping."""
        return {int(uid): self.sequence(u) for u, uid in enumerate(self.user_ids)}

    def truncate(self, drop_last: np.ndarray | int) -> SequenceDataset:
        """Drop the last ``drop_last`` items of each row (per-row array or one int), keeping ids and times."""
        drop = np.minimum(np.broadcast_to(np.asarray(drop_last, np.int64), (self.n_users,)), self.lengths)
        new_len = self.lengths - drop
        keep = np.arange(self.n_interactions) - np.repeat(self.offsets[:-1], self.lengths) < np.repeat(
            new_len, self.lengths
        )
        offsets = np.concatenate([[0], np.cumsum(new_len)]).astype(np.int64)
        times = None if self.timestamps is None else self.timestamps[keep]
        return SequenceDataset(self.items[keep], offsets, self.n_items, self.user_ids, times)


class LeaveOneOut(NamedTuple):
    """The S3-Rec / SASRec leave-one-out split; unpacks as ``train, valid_targets, test_targets``.

    ``train`` holds each sequence minus its last two items. ``valid_targets[u]`` is the second-to-last item
    (predicted from ``train``); ``test_targets[u]`` is the last one (predicted from :meth:`test_history`).
    Users with fewer than 3 items keep all their items in ``train`` and get target 0 ("none") in both arrays;
    evaluate on ``targets > 0``.
    """

    train: SequenceDataset
    valid_targets: np.ndarray
    test_targets: np.ndarray

    def test_history(self) -> SequenceDataset:
        """The sequences the test targets are predicted from: ``train`` plus the validation item."""
        tr = self.train
        has = self.valid_targets > 0
        lengths = tr.lengths + has
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = np.zeros(offsets[-1], dtype=np.int64)
        keep = np.ones(offsets[-1], dtype=bool)
        keep[(offsets[1:] - 1)[has]] = False
        items[keep] = tr.items
        items[~keep] = self.valid_targets[has]
        return SequenceDataset(items, offsets, tr.n_items, tr.user_ids)


def leave_one_out(ds: SequenceDataset) -> LeaveOneOut:
    """Split ``ds`` by holding out each user's last item (test) and second-to-last (validation)."""
    lengths = ds.lengths
    eligible = lengths >= 3
    last = ds.offsets[1:] - 1
    test = np.where(eligible, ds.items[np.maximum(last, 0)] if ds.items.size else 0, 0).astype(np.int64)
    valid = np.where(eligible, ds.items[np.maximum(last - 1, 0)] if ds.items.size else 0, 0).astype(np.int64)
    return LeaveOneOut(ds.truncate(np.where(eligible, 2, 0)), valid, test)


def parse_s3rec(path: str | Path) -> SequenceDataset:
    """Parse an S3-Rec sequence file: ``user item1 item2 ...`` per line, chronological, ids from 1."""
    lines = data_lines(read_text(path))
    users: list[int] = []
    seqs: list[list[int]] = []
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        fields = []
        for col, tok in enumerate(tokens, start=1):
            what = "the user id" if col == 1 else f"item {col - 1}"
            try:
                value = int(tok)
            except ValueError:
                raise line_error(path, lineno, f"column {col} ({what}): {tok!r} is not an integer") from None
            if value < 1:
                raise line_error(path, lineno, f"column {col} ({what}): {value} is not positive "
                                               "(ids start at 1; 0 is reserved for padding)")
            fields.append(value)
        if len(fields) < 2:
            raise line_error(path, lineno, f"column {len(fields) + 1}: expected 'user item1 [item2 ...]', "
                                           f"got {line[:80]!r}")
        users.append(fields[0])
        seqs.append(fields[1:])
    return SequenceDataset.from_sequences(seqs, user_ids=users)


def download(dest: str | Path) -> Path:
    """Fetch Beauty.txt (S3-Rec preprocessing) into folder ``dest``, verified by sha256."""
    return download_sources(SOURCES, dest)


def load_s3rec(path: str | Path | None = None, name: str = "Beauty", download: bool = False) -> SequenceDataset:
    """Load an S3-Rec preprocessed sequence file (default Amazon Beauty: 22,363 users / 12,101 items).

    ``path`` is the file itself or the folder holding ``<name>.txt``; None means ``<data root>/amazon-s3rec``.
    """
    if path is not None and Path(path).suffix == ".txt":  # the file itself
        if not Path(path).is_file():
            raise DataNotFoundError(f"S3-Rec sequence file {str(path)!r} not found")
        return parse_s3rec(path)
    sources = SOURCES if name == "Beauty" else ()
    folder = resolve_folder("amazon-s3rec", path, download=download, sources=sources, required=[f"{name}.txt"])
    return parse_s3rec(folder / f"{name}.txt")
