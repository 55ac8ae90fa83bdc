import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tandem.core.errors import ConfigError
from tandem.data.arrays import ArrayDataset
from tandem.data.sklearn_sets import SKLEARN_SETS, load_sklearn, train_test_split_indices


@pytest.mark.parametrize(("name", "shape", "classes"), [("digits", (1797, 64), 10), ("wine", (178, 13), 3),
                                                         ("breast_cancer", (569, 30), 2), ("iris", (150, 4), 3)])
def test_shapes(name: str, shape: tuple[int, int], classes: int) -> None:
    ds = load_sklearn(name)
    assert ds.X.shape == shape and ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.n_classes == classes and len(ds.feature_names) == shape[1] and ds.name == name
    assert name in SKLEARN_SETS


def test_digits_matches_peer_preprocessing() -> None:
    X, y = load_digits(return_X_y=True)
    ds = load_sklearn("digits")
    assert np.array_equal(ds.X, (X / 16.0).astype(np.float32)) and np.array_equal(ds.y, y)
    assert ds.X.max() == 1.0


def test_split_matches_sklearn() -> None:
    train, test = train_test_split_indices(100, test_size=0.3, seed=3)
    ref_train, ref_test = train_test_split(np.arange(100), test_size=0.3, random_state=3, shuffle=True)
    assert np.array_equal(train, ref_train) and np.array_equal(test, ref_test)


def test_split_matches_peer_partition(peers: Path) -> None:
    part = json.loads((peers / "partition.json").read_text())
    train, test = train_test_split_indices(1797)
    assert train.tolist() == part["train_indices"] and test.tolist() == part["test_indices"]


def test_errors() -> None:
    with pytest.raises(ConfigError, match="unknown set"):
        load_sklearn("mnist")
    with pytest.raises(ConfigError):
        ArrayDataset(np.zeros((3, 2), np.float32), np.zeros(2, np.int64), 2, ("a", "b"))
    ds = load_sklearn("iris").subset(np.arange(5))
    assert len(ds) == 5
