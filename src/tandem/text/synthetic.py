"""A synthetic sentiment task and a stand-in "pretrained" encoder, for tests and runs without SST-2 or MiniLM.

Reviews are short strings of filler words and sentiment words; a sentiment word may be negated ("not good").
Sentiment words follow a Zipf law, so most are rare in any training set: the small model, which learns every
word from labels, cannot know them, while :class:`LexiconEncoder` - standing in for a pretrained encoder -
knows every word's polarity. That reproduces the large model's advantage on rare words, which is what makes
a cascade worth having, at toy scale and in milliseconds. Not a benchmark: real numbers come from SST-2.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.sst2 import TextDataset
from tandem.text.features import tokenize

N_WORDS = 400
FILLER = ("the", "a", "movie", "film", "plot", "story", "actors", "it", "is", "was", "and", "with", "its", "this")


def _lexicon(seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    words = [f"w{i}" for i in range(N_WORDS)]
    polarity = rng.choice([-1.0, 1.0], N_WORDS) * rng.uniform(0.5, 1.5, N_WORDS)
    freq = 1.0 / np.arange(1, N_WORDS + 1) ** 1.1
    return words, polarity, freq / freq.sum()


def synthetic_reviews(n: int, *, seed: int = 0, lexicon_seed: int = 0, noise: float = 0.3,
                      split: str = "synthetic") -> TextDataset:
    """``n`` labelled synthetic reviews (label 1 = positive), reproducible from ``seed``."""
    if n < 1 or noise < 0:
        raise ConfigError(f"synthetic_reviews: need n >= 1 and noise >= 0, got {n}, {noise}")
    words, polarity, freq = _lexicon(lexicon_seed)
    rng = np.random.default_rng(seed)
    sentences, labels = [], np.empty(n, dtype=np.int64)
    for i in range(n):
        k = int(rng.integers(1, 4))
        chosen = rng.choice(N_WORDS, size=k, p=freq)
        negated = rng.random(k) < 0.2
        score = float(np.sum(np.where(negated, -1.0, 1.0) * polarity[chosen])) + noise * float(rng.normal())
        tokens = list(rng.choice(FILLER, size=int(rng.integers(2, 6))))
        for w, neg in zip(chosen, negated, strict=True):
            tokens.insert(int(rng.integers(0, len(tokens) + 1)), ("not " if neg else "") + words[w])
        sentences.append(" ".join(tokens))
        labels[i] = int(score > 0)
    return TextDataset(sentences, labels, split)


class LexiconEncoder:
    """A :class:`~tandem.text.encoder.SentenceEncoder` that knows every word's polarity (a toy "pretrained" model).

    Dimension 0 holds the sentence's negation-aware polarity sum; the other ``dim - 1`` hold a hashed bag of
    words (so a head can also learn from the data). Deterministic, no downloads.
    """

    name = "tandem-lexicon-encoder"

    def __init__(self, dim: int = 32, lexicon_seed: int = 0) -> None:
        if dim < 2:
            raise ConfigError(f"LexiconEncoder: dim must be >= 2, got {dim}")
        self.dim = int(dim)
        words, polarity, _ = _lexicon(lexicon_seed)
        self.polarity = dict(zip(words, polarity.tolist(), strict=True))

    def encode(self, sentences: Sequence[str], *, batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """``float32 [n, dim]`` embeddings."""
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            tokens = tokenize(sentence)
            for j, token in enumerate(tokens):
                sign = -1.0 if j > 0 and tokens[j - 1] == "not" else 1.0
                out[i, 0] += sign * self.polarity.get(token, 0.0)
                out[i, 1 + zlib.crc32(token.encode()) % (self.dim - 1)] += 0.1
        return out

