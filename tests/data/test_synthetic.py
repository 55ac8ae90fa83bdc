import itertools

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.data.sequences import leave_one_out
from tandem.data.synthetic import make_synthetic_fleet


@pytest.fixture(scope="module")
def fleet():
    return make_synthetic_fleet(n_users=3000, n_items=800, n_clusters=16, seq_len=30, seed=1)


def test_shapes_and_ranges(fleet) -> None:
    s = fleet.sequences
    assert (s.n_users, s.n_items, s.n_interactions) == (3000, 800, 90_000)
    assert s.items.min() >= 1 and s.items.max() <= 800
    assert fleet.item_cluster.shape == (801,) and fleet.item_cluster[0] == -1
    assert set(np.unique(fleet.item_cluster[1:]).tolist()) == set(range(16))
    assert fleet.user_clusters.shape == (3000, 30) and fleet.personal_clusters.shape == (3000, 3)
    assert np.allclose(fleet.personal_weights.sum(1), 1) and np.isclose(fleet.cluster_weight.sum(), 1)
    # the recorded trajectory is the cluster each item was drawn from
    assert np.array_equal(fleet.item_cluster[s.items].reshape(3000, 30), fleet.user_clusters)
    assert s.timestamps is not None and s.timestamps[:30].tolist() == list(range(30))
    assert fleet.params["seed"] == 1 and fleet.n_clusters == 16


def test_deterministic() -> None:
    a = make_synthetic_fleet(200, 100, 5, 10, seed=3)
    b = make_synthetic_fleet(200, 100, 5, 10, seed=3)
    c = make_synthetic_fleet(200, 100, 5, 10, seed=4)
    assert np.array_equal(a.sequences.items, b.sequences.items)
    assert np.array_equal(a.user_clusters, b.user_clusters)
    assert not np.array_equal(a.sequences.items, c.sequences.items)


def test_learnable_but_not_trivial(fleet) -> None:
    """Cluster persistence makes the next item predictable from the last one; within-cluster choice does not."""
    seqs = fleet.sequences.items.reshape(3000, 30)
    ic = fleet.item_cluster
    same = (ic[seqs[:, 1:]] == ic[seqs[:, :-1]]).mean()
    assert 0.7 < same < 0.97
    assert (seqs[:, 1:] == seqs[:, :-1]).mean() < 0.01  # no immediate repeats
    counts = np.bincount(seqs[:, :-1].ravel(), minlength=801)
    counts[0] = 0
    top_in = {c: np.argsort(-np.where(ic == c, counts, -1))[:10] for c in range(16)}
    last, target = seqs[:, -2], seqs[:, -1]
    cluster_hr = np.mean([target[u] in top_in[ic[last[u]]] for u in range(3000)])
    popular_hr = np.isin(target, np.argsort(-counts)[:10]).mean()
    assert cluster_hr > 2 * popular_hr and 0.25 < cluster_hr < 0.9
    # heavy-tailed popularity: the top 10% of items take far more than 10% of interactions
    share = np.sort(counts)[::-1][:80].sum() / counts.sum()
    assert share > 0.3


def test_variable_lengths_and_leave_one_out() -> None:
    f = make_synthetic_fleet(500, 200, 8, 20, min_seq_len=5, seed=0)
    lengths = f.sequences.lengths
    assert lengths.min() >= 5 and lengths.max() <= 20 and len(set(lengths.tolist())) > 5
    assert ((f.user_clusters >= 0).sum(1) == lengths).all()
    train, valid, test = leave_one_out(f.sequences)
    assert (valid > 0).all() and (test > 0).all() and train.n_interactions == lengths.sum() - 1000


def test_drift_changes_personal_clusters() -> None:
    still = make_synthetic_fleet(300, 100, 10, 40, interest_shift_prob=0.0, seed=2)
    moving = make_synthetic_fleet(300, 100, 10, 40, interest_shift_prob=0.2, seed=2)
    seen_still = np.mean([np.isin(still.user_clusters[u], still.personal_clusters[u]).mean() for u in range(300)])
    seen_moving = np.mean([np.isin(moving.user_clusters[u], moving.personal_clusters[u]).mean() for u in range(300)])
    assert seen_moving < seen_still


@pytest.mark.parametrize(
    "kwargs",
    [{"n_clusters": 0}, {"n_clusters": 50, "n_items": 10}, {"switch_prob": 1.5}, {"seq_len": 0},
     {"min_seq_len": 60}],
)
def test_bad_config(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        make_synthetic_fleet(**kwargs)


def test_follow_prob_gives_items_a_few_fixed_successors():
    from tandem.data.synthetic import make_synthetic_fleet

    fleet = make_synthetic_fleet(n_users=300, n_items=200, n_clusters=5, seq_len=30, switch_prob=0.0,
                                 follow_prob=1.0, n_successors=2, seed=3)
    pairs = {}
    for seq in fleet.sequences:
        for prev, nxt in itertools.pairwise(seq):
            pairs.setdefault(int(prev), set()).add(int(nxt))
    # with every step a habit and no cluster switch, an item is followed by its 2 successors (or a redraw
    # when a successor equals the item itself), far fewer than the ~40 items of its cluster
    assert np.mean([len(v) for v in pairs.values()]) < 3.0
    plain = make_synthetic_fleet(n_users=300, n_items=200, n_clusters=5, seq_len=30, switch_prob=0.0, seed=3)
    plain_pairs = {}
    for seq in plain.sequences:
        for prev, nxt in itertools.pairwise(seq):
            plain_pairs.setdefault(int(prev), set()).add(int(nxt))
    assert np.mean([len(v) for v in plain_pairs.values()]) > 5.0
