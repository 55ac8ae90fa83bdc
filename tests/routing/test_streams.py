import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.data import SequenceDataset
from tandem.routing import Streams, split_users


def test_streams_by_hand() -> None:
    ds = SequenceDataset.from_sequences([[5, 6, 7], [1], [2, 3, 4, 8]], n_items=8)
    s = Streams(ds, start=1)
    assert s.steps_per_user.tolist() == [2, 0, 3] and s.n_steps == 5
    assert s.step_user.tolist() == [0, 0, 2, 2, 2] and s.step_position.tolist() == [1, 2, 1, 2, 3]
    assert s.targets(np.arange(5)).tolist() == [6, 7, 3, 4, 8]
    assert s.histories(np.array([1, 4]), max_len=2).tolist() == [[5, 6], [3, 4]]
    assert s.histories(np.array([0, 4]), max_len=5).tolist() == [[0, 0, 5], [2, 3, 4]]
    with pytest.raises(ConfigError):
        s.targets(np.array([5]))
    with pytest.raises(ConfigError):
        Streams(ds, start=0)


def test_split_users_is_disjoint_and_proportional() -> None:
    ds = SequenceDataset.from_sequences([[i + 1] * (3 + i % 4) for i in range(100)], n_items=100)
    parts = split_users(ds, (0.6, 0.2, 0.2), seed=1)
    ids = [set(p.user_ids.tolist()) for p in parts]
    assert [len(i) for i in ids] == [60, 20, 20]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    with pytest.raises(ConfigError):
        split_users(ds, (0.5, 0.5, 0.5))


def test_movielens_streams_cover_every_interaction_but_the_first() -> None:
    from tandem.core.errors import DataNotFoundError
    from tandem.data import load_movielens_100k
    from tandem.data.paths import dataset_dir

    try:
        folder = dataset_dir("movielens-100k")
    except DataNotFoundError as exc:
        pytest.skip(f"MovieLens-100k not available: {exc}")
    seqs = load_movielens_100k(folder).to_sequences()
    parts = split_users(seqs, seed=0)
    assert sum(p.n_users for p in parts) == seqs.n_users == 943
    streams = Streams(seqs)
    assert streams.n_steps == seqs.n_interactions - seqs.n_users
    steps = np.array([0, streams.n_steps - 1])
    assert streams.targets(steps).tolist() == [int(seqs.sequence(0)[1]), int(seqs.sequence(942)[-1])]
