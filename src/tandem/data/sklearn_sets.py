"""The small classification sets that ship with scikit-learn: tandem's embedded default, no download needed.

``digits`` is scaled to [0, 1] (``X / 16`` as float32) to match the peer baseline's preprocessing
(``shared/peers/workload.json``); the others keep their raw units (standardize on the train split if needed).
"""

from __future__ import annotations

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.arrays import ArrayDataset, train_test_split_indices

SKLEARN_SETS: tuple[str, ...] = ("digits", "wine", "breast_cancer", "iris")

__all__ = ["SKLEARN_SETS", "load_sklearn", "train_test_split_indices"]


def load_sklearn(name: str) -> ArrayDataset:
    """Load ``digits``, ``wine``, ``breast_cancer`` or ``iris`` as float32 features and int64 labels."""
    if name not in SKLEARN_SETS:
        raise ConfigError(f"load_sklearn: unknown set {name!r}; choose one of {', '.join(SKLEARN_SETS)}")
    from sklearn import datasets  # lazy: importing sklearn costs ~1 s

    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    if name == "digits":
        X = X / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    names = tuple(str(f) for f in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])]))
    return ArrayDataset(X.astype(np.float32), y, len(bunch.target_names), names, name)
