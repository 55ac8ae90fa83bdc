"""Leave-one-out splits of the real data sets (skipped cleanly where ../shared/data is absent)."""

import numpy as np
import pytest

from tandem.core.errors import DataNotFoundError
from tandem.data import find_data_root, load_movielens_100k, load_s3rec
from tandem.models.seqrec import build_seqrec
from tandem.models.seqrec_data import leave_one_out_split, training_windows
from tandem.models.seqrec_eval import evaluate_seqrec


@pytest.fixture(scope="module")
def data_root():
    try:
        return find_data_root()
    except DataNotFoundError as exc:
        pytest.skip(f"real data sets not available: {exc}")


def test_beauty_split_keeps_every_user_of_the_five_core_file(data_root):
    if not (data_root / "amazon-s3rec" / "Beauty.txt").exists():
        pytest.skip("Beauty.txt not found")
    ds = load_s3rec(data_root / "amazon-s3rec")
    split = leave_one_out_split(ds, max_len=50)
    assert split.users.size == ds.n_users  # every S3-Rec user has at least 5 items
    assert split.train.n_interactions == ds.n_interactions - 2 * ds.n_users
    inputs, targets = training_windows(split.train, 50)
    assert inputs.shape == targets.shape and np.all((inputs > 0) == (targets > 0))
    assert int((targets > 0).sum()) == split.train.n_interactions - split.train.n_users


def test_movielens_split_and_an_untrained_model_score_near_chance(data_root):
    if not (data_root / "movielens-100k" / "u.data").exists():
        pytest.skip("MovieLens-100k not found")
    ds = load_movielens_100k(data_root / "movielens-100k").to_sequences()
    split = leave_one_out_split(ds, max_len=50)
    assert split.users.size == 943 and np.all(split.test_targets > 0)
    model = build_seqrec("sasrec", ds.n_items, 50, "small").eval()
    metrics = evaluate_seqrec(model, split.test_histories, split.test_targets, seen=split.test_seen)
    assert metrics["hr@20"] < 0.1  # 20 of ~1600 unseen items: chance is ~1.2%
