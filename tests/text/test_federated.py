import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.text.features import HashedNgrams
from tandem.text.federated import federated_finetune, simulate_user_ids, user_parts
from tandem.text.small import HashedNgramClassifier
from tandem.text.synthetic import synthetic_reviews


def test_simulated_users_are_skewed_and_heavy_tailed() -> None:
    labels = np.random.default_rng(0).integers(0, 2, 20_000)
    users = simulate_user_ids(labels, n_users=100, alpha=0.3, seed=0)
    assert users.shape == labels.shape and users.min() >= 0 and users.max() < 100
    sizes = np.bincount(users, minlength=100)
    share = np.bincount(users, weights=labels, minlength=100) / np.maximum(sizes, 1)
    assert sizes.max() > 4 * np.median(sizes)  # a few heavy users
    assert np.std(share[sizes > 50]) > 0.2  # users lean one way or the other
    np.testing.assert_array_equal(users, simulate_user_ids(labels, n_users=100, alpha=0.3, seed=0))


def test_user_parts_cover_the_rows_once() -> None:
    rows = np.arange(100, 400)
    labels = np.random.default_rng(1).integers(0, 2, rows.size)
    parts = user_parts(labels, rows, n_users=20, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), rows)


def test_federated_finetune_counts_bytes_and_improves_a_fresh_model() -> None:
    data, dev = synthetic_reviews(1500, seed=0), synthetic_reviews(300, seed=1)
    f = HashedNgrams(n_buckets=2**10)
    ids, dev_ids = f.transform(data.sentences), f.transform(dev.sentences)
    parts = user_parts(data.labels, np.arange(len(data)), n_users=30, seed=0)
    run = federated_finetune(HashedNgramClassifier(2**10), ids, data.labels, parts, eval_ids=dev_ids,
                             eval_labels=dev.labels, rounds=3, clients_per_round=10, lr=2.0, batch_size=8)
    assert len(run.history) == 4
    assert all(r["bytes_down"] > 0 and r["bytes_up"] > 0 for r in run.history[1:])
    assert run.final("accuracy") > run.history[0]["accuracy"]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ConfigError):
        simulate_user_ids(np.array([0, 2]), n_users=3)
    with pytest.raises(ConfigError):
        simulate_user_ids(np.array([0, 1]), n_users=0)
    with pytest.raises(ConfigError, match="row ids"):
        user_parts(np.zeros(3), np.arange(4))
    ids = np.ones((4, 2), dtype=np.int64)
    with pytest.raises(ConfigError, match="at least one user"):
        federated_finetune(HashedNgramClassifier(4), ids, np.zeros(4), [np.zeros(0, np.int64)])
    with pytest.raises(ConfigError, match="both"):
        federated_finetune(HashedNgramClassifier(4), ids, np.zeros(4), [np.arange(4)], eval_ids=ids)
    with pytest.raises(ConfigError, match="unknown strategy"):
        federated_finetune(HashedNgramClassifier(4), ids, np.zeros(4), [np.arange(4)], strategy="nope")


def test_trust_hooks_plug_in_robust_aggregation_and_local_dp() -> None:
    from tandem.federated.privacy import LocalDP

    data = synthetic_reviews(600, seed=0)
    ids = HashedNgrams(n_buckets=2**8).transform(data.sentences)
    parts = user_parts(data.labels, np.arange(len(data)), n_users=12, seed=0)
    run = federated_finetune(HashedNgramClassifier(2**8), ids, data.labels, parts, rounds=2, clients_per_round=6,
                             strategy="robust", strategy_kwargs={"rule": "median"},
                             hooks=[LocalDP(clip=1.0, noise_multiplier=0.1, seed=0)])
    assert run.config["strategy"] == "fedavg+median" and len(run.history) == 3
    assert all(np.isfinite(v.numpy()).all() for v in run.params.values())
