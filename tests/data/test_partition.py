import json
from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.data.partition import by_user_partition, dirichlet_partition, iid_partition, partition_sizes
from tandem.data.sklearn_sets import load_sklearn, train_test_split_indices


@pytest.fixture(scope="module")
def peer_files(peers: Path) -> tuple[dict, dict]:
    return (json.loads((peers / "partition.json").read_text()), json.loads((peers / "workload.json").read_text()))


@pytest.mark.parametrize(("n_clients", "config"), [(100, "main"), (1000, "large")])
def test_reproduces_peer_partition(peer_files: tuple[dict, dict], n_clients: int, config: str) -> None:
    part, workload = peer_files
    y = load_sklearn("digits").y
    train = np.asarray(part["train_indices"])
    clients = dirichlet_partition(y[train], n_clients, 0.5, seed=0, row_ids=train)
    assert [c.tolist() for c in clients] == part["clients"][str(n_clients)]
    sizes = partition_sizes(clients)
    stats = workload["partition"]["stats"][config]
    assert (sizes.min(), sizes.max(), int((sizes == 0).sum())) == (
        stats["client_size_min"], stats["client_size_max"], stats["empty_clients"])
    assert round(float(sizes.mean()), 3) == stats["client_size_mean"]


def test_dirichlet_properties() -> None:
    y = load_sklearn("digits").y
    train, _ = train_test_split_indices(len(y))
    clients = dirichlet_partition(y[train], 7, 0.3, seed=5, row_ids=train)
    joined = np.concatenate(clients)
    assert np.array_equal(np.sort(joined), np.sort(train))  # disjoint and complete
    assert all(np.all(np.diff(c) > 0) for c in clients)
    again = dirichlet_partition(y[train], 7, 0.3, seed=np.random.default_rng(5), row_ids=train)
    assert all(np.array_equal(a, b) for a, b in zip(clients, again, strict=True))
    skewed = [np.bincount(y[c], minlength=10).max() / max(c.size, 1) for c in clients]
    assert np.mean(skewed) > 0.3  # label skew: each client dominated by few classes


def _reference(labels: np.ndarray, n: int, alpha: float, seed: int, n_classes: int) -> list[list[int]]:
    """workload.json's text, transcribed literally (positions, shuffle, dirichlet, truncating cuts, split)."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(n)]
    for k in range(n_classes):
        pos_k = np.array([p for p in range(len(labels)) if labels[p] == k], dtype=np.int64)
        rng.shuffle(pos_k)
        prop = rng.dirichlet([alpha] * n)
        cuts = (np.cumsum(prop)[:-1] * len(pos_k)).astype(int)
        for c, chunk in enumerate(np.split(pos_k, cuts)):
            out[c].extend(chunk.tolist())
    return [sorted(c) for c in out]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_literal_reference_with_absent_class(seed: int) -> None:
    labels = np.random.default_rng(seed + 10).choice([0, 2, 3], size=60)  # class 1 absent
    got = dirichlet_partition(labels, 5, 0.5, seed=seed, n_classes=4)
    assert [c.tolist() for c in got] == _reference(labels, 5, 0.5, seed, 4)


def test_iid_and_by_user() -> None:
    parts = iid_partition(10, 3, seed=0)
    assert sorted(partition_sizes(parts).tolist()) == [3, 3, 4]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(10))
    ids = np.array([7, 8, 9])
    assert np.array_equal(np.sort(np.concatenate(iid_partition(ids, 2))), ids)
    users = np.array([5, 3, 5, 3, 9])
    assert [p.tolist() for p in by_user_partition(users)] == [[1, 3], [0, 2], [4]]
    assert by_user_partition(np.array([], dtype=np.int64)) == []


def test_errors() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        dirichlet_partition(np.zeros(3), 2, 0.0)
    with pytest.raises(ConfigError, match="n_clients"):
        dirichlet_partition(np.zeros(3), 0, 0.5)
    with pytest.raises(ConfigError, match="row_ids"):
        dirichlet_partition(np.zeros(3), 2, 0.5, row_ids=np.arange(4))
    with pytest.raises(ConfigError):
        by_user_partition(np.zeros((2, 2)))
