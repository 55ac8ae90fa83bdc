import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.text.cloud import CloudTextModel, EmbeddingHead, head_proba, train_head
from tandem.text.synthetic import LexiconEncoder, synthetic_reviews


def test_head_on_a_knowing_encoder_beats_chance_by_far(tmp_path) -> None:
    enc = LexiconEncoder()
    train, dev = synthetic_reviews(1500, seed=0), synthetic_reviews(300, seed=1)
    head = train_head(EmbeddingHead(enc.dim, hidden=16), enc.encode(train.sentences), train.labels, epochs=15)
    cloud = CloudTextModel(enc, head, cache_dir=tmp_path)
    probs = cloud.predict_proba(dev.sentences)
    assert probs.shape == (300, 2) and np.allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == dev.labels).mean() > 0.85
    assert cloud.flops(np.array([10, 20])) > 30 * 2 * 22_000_000


def test_linear_head_and_flops() -> None:
    head = EmbeddingHead(8, hidden=None)
    assert head.flops() == 2 * 8 * 2
    assert head_proba(head, np.zeros((3, 8))).shape == (3, 2)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ConfigError):
        EmbeddingHead(8, dropout=1.0)
    with pytest.raises(ConfigError, match="finite"):
        train_head(EmbeddingHead(2), np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ConfigError, match="labels"):
        train_head(EmbeddingHead(2), np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ConfigError):
        head_proba(EmbeddingHead(2), np.zeros(2))
