"""Sequences to padded matrices for sequential recommenders: training windows and leave-one-out splits.

Pure array code. Histories are left-padded with 0 to ``max_len`` columns (newest item last), the layout
:class:`tandem.models.seqrec.SequentialRecommender` reads. Training follows SASRec (Kang & McAuley 2018):
every position of a user's training sequence predicts the item after it; sequences longer than ``max_len``
are cut into consecutive windows from the newest end so that no training target is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset, leave_one_out


def pad_left(sequences: Iterable[np.ndarray], max_len: int) -> np.ndarray:
    """``int64 [n, max_len]``: the last ``max_len`` items of each sequence, left-padded with 0."""
    if max_len < 1:
        raise ConfigError(f"pad_left: max_len must be >= 1, got {max_len}")
    rows = [np.asarray(s, dtype=np.int64)[-max_len:] for s in sequences]
    out = np.zeros((len(rows), max_len), dtype=np.int64)
    for i, row in enumerate(rows):
        if row.size:
            out[i, max_len - row.size :] = row
    return out


def trim_left_padding(histories: np.ndarray) -> np.ndarray:
    """``histories [n, L]`` without the left-padding columns no row uses (at least one column). Pure.

    A causal model that masks padding scores a left-padded history the same at any width, so batches of
    similar lengths (Beauty: 9 items a user in 50 columns) run several times faster trimmed.
    """
    used = int((histories > 0).sum(1).max()) if histories.size else 0
    return histories[:, -max(1, used) :]


def training_windows(ds: SequenceDataset, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, targets)``, both ``int64 [n_windows, max_len]``; target 0 marks a position without a label.

    For a sequence ``s`` the inputs are ``s[:-1]`` and the targets ``s[1:]``, cut from the newest end into
    windows of ``max_len`` positions (the oldest window left-padded). Sequences shorter than 2 give nothing.
    """
    if max_len < 1:
        raise ConfigError(f"training_windows: max_len must be >= 1, got {max_len}")
    inputs, targets = [], []
    for seq in ds:
        for end in range(len(seq) - 1, 0, -max_len):
            start = max(0, end - max_len)
            inputs.append(seq[start:end])
            targets.append(seq[start + 1 : end + 1])
    return pad_left(inputs, max_len), pad_left(targets, max_len)


@dataclass(frozen=True)
class SeqRecSplit:
    """Leave-one-out evaluation arrays (SASRec / S3-Rec protocol) for users with at least 3 items.

    ``train`` holds every user's sequence minus its last two items (users with fewer than 3 items keep all
    of theirs, for training only). Validation predicts ``valid_targets`` from ``valid_histories`` (the train
    sequences); test predicts ``test_targets`` from ``test_histories`` (train + the validation item).
    ``valid_seen`` / ``test_seen`` are the full (untruncated) histories, for excluding seen items.
    """

    train: SequenceDataset
    users: np.ndarray
    valid_histories: np.ndarray
    valid_targets: np.ndarray
    valid_seen: SequenceDataset
    test_histories: np.ndarray
    test_targets: np.ndarray
    test_seen: SequenceDataset

    @property
    def n_items(self) -> int:
        return self.train.n_items

    @property
    def max_len(self) -> int:
        return int(self.valid_histories.shape[1])


def _rows(ds: SequenceDataset, rows: np.ndarray) -> SequenceDataset:
    return SequenceDataset.from_sequences([ds.sequence(int(r)) for r in rows], ds.n_items, ds.user_ids[rows])


def leave_one_out_split(ds: SequenceDataset, max_len: int = 50) -> SeqRecSplit:
    """Split ``ds`` by :func:`tandem.data.leave_one_out` and pad the histories to ``max_len``."""
    loo = leave_one_out(ds)
    users = np.flatnonzero(loo.test_targets > 0)
    if users.size == 0:
        raise ConfigError("leave_one_out_split: no user has 3 or more items to evaluate on")
    valid_seen = _rows(loo.train, users)
    test_seen = _rows(loo.test_history(), users)
    return SeqRecSplit(
        train=loo.train, users=users,
        valid_histories=pad_left(valid_seen, max_len), valid_targets=loo.valid_targets[users], valid_seen=valid_seen,
        test_histories=pad_left(test_seen, max_len), test_targets=loo.test_targets[users], test_seen=test_seen,
    )


def last_position_examples(ds: SequenceDataset, max_len: int, per_user: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(histories [n, max_len], targets [n])``: each user's last ``per_user`` next-item examples.

    Used to train cloud-side generators (masks, hypernetworks) on a bounded number of examples per user, the
    most recent ones, which are what a deployed generator sees.
    """
    if per_user < 1:
        raise ConfigError(f"last_position_examples: per_user must be >= 1, got {per_user}")
    histories, targets = [], []
    for seq in ds:
        for t in range(max(1, len(seq) - per_user), len(seq)):
            histories.append(seq[:t])
            targets.append(seq[t])
    return pad_left(histories, max_len), np.asarray(targets, dtype=np.int64)
