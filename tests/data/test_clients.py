"""Client populations: PartitionedData (and from_arrays for a user's own arrays) and SyntheticClients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.data import PartitionedData, SyntheticClients, dirichlet_partition, iid_partition


def _arrays(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)


def test_iid_and_dirichlet_use_the_library_partitioners():
    x, y = _arrays()
    iid = PartitionedData.from_arrays(x, y, 7, seed=2)
    assert [p.tolist() for p in iid.parts] == [p.tolist() for p in iid_partition(len(y), 7, seed=2)]
    skewed = PartitionedData.from_arrays(x, y, 7, alpha=0.3, seed=2)
    assert [p.tolist() for p in skewed.parts] == [p.tolist() for p in dirichlet_partition(y, 7, 0.3, seed=2)]
    assert skewed.n_clients == 7 and skewed.eval_parts is None
    view = skewed.round_view(np.array([3]))
    torch.testing.assert_close(view.X[view.rows[0]], torch.from_numpy(x[skewed.parts[3]]))


def test_local_eval_fraction_holds_out_rows_per_client():
    x, y = _arrays()
    data = PartitionedData.from_arrays(x, y, 4, local_eval_fraction=0.25)
    assert data.eval_parts is not None
    for train, held in zip(data.parts, data.eval_parts, strict=True):
        assert len(held) == int((len(train) + len(held)) * 0.25)
        assert not set(train) & set(held)
    everything = np.sort(np.concatenate(data.parts + data.eval_parts))
    np.testing.assert_array_equal(everything, np.arange(len(y)))


@pytest.mark.parametrize(
    ("x", "y", "n_clients", "kwargs", "match"),
    [
        (np.zeros((5, 2)), np.zeros(4, int), 2, {}, "5 rows but y has 4"),
        (np.array([[0.0, np.nan]] * 4), np.zeros(4, int), 2, {}, "NaN or Inf"),
        (np.zeros((3, 2)), np.zeros(3, int), 4, {}, "4 clients but only 3 rows"),
        (np.zeros((3, 2)), np.zeros(3, int), 0, {}, "positive integer"),
        (np.zeros((3, 2)), np.array([0.0, 1.5, 1.0]), 1, {}, "integer class labels"),
        (np.zeros((3, 2)), np.array([0, -1, 1]), 1, {}, ">= 0"),
        (np.zeros((3, 2)), np.zeros(3, int), 1, {"alpha": 0.0}, "alpha"),
        (np.zeros((3, 2)), np.zeros(3, int), 1, {"local_eval_fraction": 1.0}, "local_eval_fraction"),
        (np.array([["a"], ["b"]]), np.zeros(2, int), 1, {}, "numeric"),
    ],
)
def test_bad_input_is_a_config_error(x, y, n_clients, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PartitionedData.from_arrays(x, y, n_clients, **kwargs)


def test_synthetic_clients_are_deterministic_and_stateless():
    pop = SyntheticClients(1_000_000, n_features=4, n_classes=3, min_size=2, max_size=6, seed=1)
    ids = np.array([5, 999_999, 123_456])
    sizes = pop.sizes(ids)
    assert np.all((sizes >= 2) & (sizes <= 6))
    np.testing.assert_array_equal(sizes, pop.sizes(ids))
    a, b = pop.round_view(ids), pop.round_view(ids[::-1])
    assert [len(r) for r in a.rows] == sizes.tolist()
    torch.testing.assert_close(a.X[a.rows[0]], b.X[b.rows[2]])  # a client's data does not depend on the round
    X, y = pop.test_set(50)
    assert X.shape == (50, 4) and y.max() < 3


def test_partitioned_data_checks_rows():
    with pytest.raises(ConfigError, match="outside"):
        PartitionedData(np.zeros((3, 2)), np.zeros(3), [[0, 3]])
    with pytest.raises(ConfigError, match="do not align"):
        PartitionedData(np.zeros((3, 2)), np.zeros(4), [[0]])
