"""Dense feature matrices with integer labels, the form every classifier in tandem trains on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tandem.core.errors import ConfigError


@dataclass(frozen=True)
class ArrayDataset:
    """Features and labels as numpy arrays.

    Fields:
        X: ``float32 [n, d]`` features.
        y: ``int64 [n]`` labels in 0..n_classes-1.
        n_classes: number of classes.
        feature_names: ``tuple[str]`` of length d.
        name: where the data came from (for reports).
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    feature_names: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],):
            raise ConfigError(f"ArrayDataset {self.name!r}: X {self.X.shape} and y {self.y.shape} do not align")
        if len(self.feature_names) != self.X.shape[1]:
            raise ConfigError(f"ArrayDataset {self.name!r}: {len(self.feature_names)} names for "
                              f"{self.X.shape[1]} features")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, rows: np.ndarray) -> ArrayDataset:
        """The rows ``rows`` (indices or boolean mask), same metadata."""
        return ArrayDataset(self.X[rows], self.y[rows], self.n_classes, self.feature_names, self.name)


def train_test_split_indices(
    n: int, test_size: float = 0.2, seed: int = 0, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row ids ``(train, test)`` exactly as ``train_test_split(np.arange(n), test_size, random_state=seed)``.

    With the defaults and ``n = 1797`` this reproduces the peer baseline's digits split (workload.json).
    """
    from sklearn.model_selection import train_test_split  # lazy: importing sklearn costs ~1 s

    if n < 2:
        raise ConfigError(f"train_test_split_indices: need at least 2 rows, got {n}")
    train, test = train_test_split(
        np.arange(n, dtype=np.int64), test_size=test_size, random_state=seed, shuffle=True, stratify=stratify
    )
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
