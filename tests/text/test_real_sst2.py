"""Real SST-2 checks (opt in with ``-m slow``); skipped cleanly where the data set is not available."""

import numpy as np
import pytest

from tandem.core.errors import DataNotFoundError
from tandem.data import load_sst2
from tandem.text.features import HashedNgrams
from tandem.text.small import HashedNgramClassifier, predict_proba, train_small

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sst2():  # type: ignore[no-untyped-def]
    try:
        return load_sst2(split="train"), load_sst2(split="dev")
    except DataNotFoundError as exc:
        pytest.skip(f"SST-2 not available (set $TANDEM_DATA or place ../shared/data/sst2): {exc}")


def test_small_model_on_real_sst2_beats_the_majority_class_by_far(sst2) -> None:  # type: ignore[no-untyped-def]
    train, dev = sst2
    features = HashedNgrams()
    rows = np.random.default_rng(0).permutation(len(train))[:20_000]
    model = train_small(HashedNgramClassifier(), features.transform([train.sentences[i] for i in rows]),
                        train.labels[rows], epochs=3, lr=0.02)
    acc = (predict_proba(model, features.transform(dev.sentences)).argmax(1) == dev.labels).mean()
    assert acc > 0.72  # majority class: 0.509
