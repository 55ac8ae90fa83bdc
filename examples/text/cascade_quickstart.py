"""A device-cloud text cascade in 30 lines, with no download: synthetic reviews and a stand-in encoder.

    python examples/text/cascade_quickstart.py

The device's small model (hashed n-grams + linear) answers when it is sure; the confidence policy from
tandem.routing, calibrated to a 30% request rate, sends the rest to the cloud's large model. Swap in
``tandem.text.encoder.load_minilm()`` and ``tandem.data.load_sst2`` for the real thing (see sst2_minilm.py).
"""

import numpy as np

from tandem.routing import StepSignals, get_policy
from tandem.text import (
    EmbeddingHead,
    HashedNgramClassifier,
    HashedNgrams,
    head_proba,
    oracle_curve,
    policy_curve,
    predict_proba,
    train_head,
    train_small,
)
from tandem.text.synthetic import LexiconEncoder, synthetic_reviews

train, dev = synthetic_reviews(4000, seed=0), synthetic_reviews(1000, seed=1)
features, encoder = HashedNgrams(n_buckets=2**14), LexiconEncoder()

small = train_small(HashedNgramClassifier(2**14), features.transform(train.sentences), train.labels,
                    epochs=5, lr=0.05, batch_size=64)
head = train_head(EmbeddingHead(encoder.dim, hidden=32), encoder.encode(train.sentences), train.labels, epochs=20)

small_probs = predict_proba(small, features.transform(dev.sentences))
large_probs = head_proba(head, encoder.encode(dev.sentences))
small_ok, large_ok = small_probs.argmax(1) == dev.labels, large_probs.argmax(1) == dev.labels
print(f"small {small_ok.mean():.3f}   large {large_ok.mean():.3f}")

signals = StepSignals.from_probs(small_probs)  # what the device knows: its own class probabilities
rates = np.array([0.0, 0.1, 0.3, 0.5, 1.0])
for name, policy in (("confidence", get_policy("confidence")), ("random", get_policy("random"))):
    curve = policy_curve(policy, signals, small_ok, large_ok, rates, repeats=10)
    print(f"{name:>10}: " + "  ".join(f"{p.rate:.0%} -> {p.accuracy:.3f} (PGR {p.pgr:+.2f})" for p in curve))
best = oracle_curve(small_ok, large_ok, rates)
print("    oracle: " + "  ".join(f"{p.rate:.0%} -> {p.accuracy:.3f}" for p in best))
