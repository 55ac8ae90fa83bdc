"""Users' interaction sequences as replayable streams of device-steps, and the by-user split that keeps
model training, policy training and evaluation on disjoint users.

Step ``k`` of user ``u`` predicts item ``t = start + k`` of the user's chronological sequence from the items
before it; step ids are global (CSR over users), so a million device-steps are a few int arrays and every
per-step lookup (history, target) is one vectorized gather.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset


@dataclass(frozen=True, eq=False)
class Streams:
    """The device-steps of every user in ``seqs`` from position ``start`` on (``start`` >= 1 items of history)."""

    seqs: SequenceDataset
    start: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.start, bool) or not isinstance(self.start, int) or self.start < 1:
            raise ConfigError(f"Streams: start must be an int >= 1 (items of history before the first step), "
                              f"got {self.start!r}")

    @property
    def n_users(self) -> int:
        return self.seqs.n_users

    @property
    def n_items(self) -> int:
        return self.seqs.n_items

    @cached_property
    def steps_per_user(self) -> np.ndarray:
        """``int64 [n_users]``: how many steps each user's stream has."""
        return np.maximum(self.seqs.lengths - self.start, 0)

    @cached_property
    def step_offsets(self) -> np.ndarray:
        """``int64 [n_users + 1]``: user ``u``'s steps are ``step_offsets[u] .. step_offsets[u + 1] - 1``."""
        return np.concatenate([[0], np.cumsum(self.steps_per_user)]).astype(np.int64)

    @property
    def n_steps(self) -> int:
        return int(self.step_offsets[-1])

    @cached_property
    def step_user(self) -> np.ndarray:
        """``int64 [n_steps]``: the user (row) of each step."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.steps_per_user)

    @cached_property
    def step_position(self) -> np.ndarray:
        """``int64 [n_steps]``: position ``t`` in the user's sequence of the item each step predicts."""
        return np.arange(self.n_steps, dtype=np.int64) - self.step_offsets[self.step_user] + self.start

    def _check(self, steps: np.ndarray) -> np.ndarray:
        s = np.asarray(steps)
        if s.dtype.kind not in "iu" or (s.size and (s.min() < 0 or s.max() >= self.n_steps)):
            raise ConfigError(f"Streams: step ids must be integers in 0..{self.n_steps - 1}")
        return s.astype(np.int64, copy=False)

    def targets(self, steps: np.ndarray) -> np.ndarray:
        """``int64 [B]``: the item each step's user clicks next (what the step is scored on)."""
        s = self._check(steps)
        return self.seqs.items[self.seqs.offsets[self.step_user[s]] + self.step_position[s]]

    def histories(self, steps: np.ndarray, max_len: int, width: int | None = None) -> np.ndarray:
        """``int64 [B, width]``: the last ``max_len`` items before each step, left-padded with 0.

        ``width`` (default: the longest history in the batch, at most ``max_len``) trims padding columns,
        which left-padded causal models ignore.
        """
        if max_len < 1:
            raise ConfigError(f"Streams.histories: max_len must be >= 1, got {max_len}")
        s = self._check(steps)
        pos = self.step_position[s]
        if width is None:
            width = int(min(max_len, pos.max(initial=1)))
        width = max(1, min(width, max_len))
        cols = pos[:, None] - width + np.arange(width)[None, :]
        flat = self.seqs.offsets[self.step_user[s]][:, None] + cols
        return np.where(cols >= 0, self.seqs.items[np.maximum(flat, 0)], 0)


class UserSplit(NamedTuple):
    """Disjoint users: ``train`` for the models, ``log`` for policy training and calibration, ``eval`` to measure."""

    train: SequenceDataset
    log: SequenceDataset
    eval: SequenceDataset


def _take(ds: SequenceDataset, rows: np.ndarray) -> SequenceDataset:
    return SequenceDataset.from_sequences([ds.sequence(int(r)) for r in rows], ds.n_items, ds.user_ids[rows])


def split_users(ds: SequenceDataset, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), *, min_len: int = 3,
                seed: int = 0) -> UserSplit:
    """Shuffle users with at least ``min_len`` items and cut them by ``fractions`` into train / log / eval."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise ConfigError(f"split_users: fractions must be three positive numbers summing to 1, got {fractions}")
    rows = np.flatnonzero(ds.lengths >= min_len)
    if rows.size < 3:
        raise ConfigError(f"split_users: only {rows.size} users have >= {min_len} items; need at least 3")
    rows = np.random.default_rng(seed).permutation(rows)
    cuts = np.round(np.cumsum(f)[:2] * rows.size).astype(int)
    cuts = np.clip(cuts, [1, cuts[0] + 1], [rows.size - 2, rows.size - 1])
    parts = np.split(rows, cuts)
    return UserSplit(*(_take(ds, np.sort(p)) for p in parts))
