import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.text.features import HashedNgrams
from tandem.text.small import HashedNgramClassifier, distill_small, predict_proba, train_small
from tandem.text.synthetic import synthetic_reviews

FEATURES = HashedNgrams(n_buckets=2**12)


@pytest.fixture(scope="module")
def reviews() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, dev = synthetic_reviews(3000, seed=0), synthetic_reviews(500, seed=1)
    return FEATURES.transform(train.sentences), train.labels, FEATURES.transform(dev.sentences), dev.labels


def test_forward_ignores_padding() -> None:
    torch.manual_seed(0)
    model = HashedNgramClassifier(100, dim=4)
    a = model(torch.tensor([[5, 7, 0, 0]]))
    b = model(torch.tensor([[5, 7]]))
    torch.testing.assert_close(a, b)


def test_training_on_labels_learns(reviews) -> None:
    x, y, xd, yd = reviews
    model = train_small(HashedNgramClassifier(2**12), x, y, epochs=5, lr=0.05, batch_size=64)
    acc = (predict_proba(model, xd).argmax(1) == yd).mean()
    assert acc > 0.6  # majority class is about 0.5


def test_distillation_follows_the_teacher_without_labels(reviews) -> None:
    x, y, xd, _ = reviews
    teacher = train_small(HashedNgramClassifier(2**12), x, y, epochs=5, lr=0.05, batch_size=64)
    probs = predict_proba(teacher, x)
    student = distill_small(HashedNgramClassifier(2**12), x, probs, epochs=5, lr=0.05, batch_size=64)
    agree = (predict_proba(student, xd).argmax(1) == predict_proba(teacher, xd).argmax(1)).mean()
    assert agree > 0.9


def test_bad_inputs_are_rejected() -> None:
    model = HashedNgramClassifier(16)
    with pytest.raises(ConfigError, match="int"):
        train_small(model, np.zeros((4, 3), dtype=np.float32), np.zeros(4))
    with pytest.raises(ConfigError, match="probability rows"):
        distill_small(model, np.ones((2, 3), dtype=np.int64), np.array([[0.5, 0.6], [1.0, 0.0]]))
    with pytest.raises(ConfigError, match="needs labels"):
        distill_small(model, np.ones((1, 3), dtype=np.int64), np.array([[0.5, 0.5]]), alpha=0.5)
    with pytest.raises(ConfigError, match="epochs"):
        train_small(model, np.ones((2, 3), dtype=np.int64), np.zeros(2), epochs=0)
    with pytest.raises(ConfigError):
        HashedNgramClassifier(1)


def test_early_stopping_keeps_the_best_epoch(reviews) -> None:
    x, y, xd, yd = reviews
    torch.manual_seed(0)
    model = train_small(HashedNgramClassifier(2**12), x, y, epochs=40, lr=0.05, batch_size=64,
                        valid=(xd, yd), patience=2)
    torch.manual_seed(0)
    first = train_small(HashedNgramClassifier(2**12), x, y, epochs=1, lr=0.05, batch_size=64)
    acc = (predict_proba(model, xd).argmax(1) == yd).mean()
    assert acc >= (predict_proba(first, xd).argmax(1) == yd).mean()  # never worse than its own first epoch
    with pytest.raises(ConfigError, match="patience"):
        train_small(HashedNgramClassifier(16), x[:4], y[:4], patience=0)
