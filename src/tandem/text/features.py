"""The device's text features: hashed word n-grams, computed with a rule simple enough to re-implement on a phone.

The "hashing trick" (Weinberger et al., "Feature Hashing for Large Scale Multitask Learning", ICML 2009) maps
every n-gram to one of ``n_buckets`` ids without a vocabulary, so the device ships no word list and new words
cost nothing; bag-of-n-gram linear models are strong, tiny text classifiers (Joulin et al., "Bag of Tricks for
Efficient Text Classification" (fastText), EACL 2017).

The rule, exactly (a device app in any language reproduces it byte for byte):

1. lower-case the sentence; tokens are the matches of the regular expression ``[a-z0-9]+(?:'[a-z]+)?|[^\\sa-z0-9]``
   (words; a word may end in an apostrophe clitic, so SST's Penn Treebank ``does n't`` gives ``does``, ``n't``;
   and single punctuation marks);
2. n-grams for ``n`` in ``1..max_n``: the tokens joined by one space, prefixed by ``"<n>:"``;
3. id = ``crc32(utf-8 bytes) % n_buckets + 1`` (id 0 is padding).

Ids come back as an ``int64 [rows, width]`` matrix padded with 0 (the model averages over non-zero ids), so one
integer tensor is the model's whole input: in PyTorch, in the federated simulator and in ONNX Runtime.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tandem.core.errors import ConfigError

TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(sentence: str) -> list[str]:
    """Lower-cased word and punctuation tokens of ``sentence`` (rule 1 of the module docstring). Pure."""
    return TOKEN_RE.findall(sentence.lower())


def ngram_ids(tokens: Sequence[str], n_buckets: int, max_n: int = 2) -> list[int]:
    """Hashed ids (1..n_buckets) of every 1..``max_n``-gram of ``tokens``, in order of appearance. Pure."""
    ids: list[int] = []
    for n in range(1, max_n + 1):
        prefix = f"{n}:"
        for i in range(len(tokens) - n + 1):
            gram = prefix + " ".join(tokens[i:i + n])
            ids.append(zlib.crc32(gram.encode("utf-8")) % n_buckets + 1)
    return ids


@dataclass(frozen=True)
class HashedNgrams:
    """Sentences to padded hashed n-gram id matrices (scikit-learn style: keyword arguments, no learned state).

    Parameters:
        n_buckets: hash space size; the model's embedding table has ``n_buckets + 1`` rows (row 0 = padding).
        max_n: longest n-gram (2 = unigrams and bigrams).
        max_len: at most this many ids per sentence (longer inputs keep their first ``max_len``; SST-2's
            longest dev sentence has 56 tokens, i.e. 111 uni+bigrams).
    """

    n_buckets: int = 2**18
    max_n: int = 2
    max_len: int = 256

    def __post_init__(self) -> None:
        if not (isinstance(self.n_buckets, int) and 2 <= self.n_buckets <= 2**31 - 2):
            raise ConfigError(f"HashedNgrams: n_buckets must be an int in [2, 2**31 - 2], got {self.n_buckets!r}")
        if not (isinstance(self.max_n, int) and 1 <= self.max_n <= 5):
            raise ConfigError(f"HashedNgrams: max_n must be an int in [1, 5], got {self.max_n!r}")
        if not (isinstance(self.max_len, int) and self.max_len >= 1):
            raise ConfigError(f"HashedNgrams: max_len must be a positive int, got {self.max_len!r}")

    def ids(self, sentence: str) -> list[int]:
        """The ids of one sentence (at most ``max_len``; at least one: an empty sentence gets bucket 1)."""
        if not isinstance(sentence, str):
            raise ConfigError(f"HashedNgrams: expected a string, got {type(sentence).__name__}")
        ids = ngram_ids(tokenize(sentence), self.n_buckets, self.max_n)[: self.max_len]
        return ids or [1]

    def transform(self, sentences: Sequence[str], width: int | None = None) -> np.ndarray:
        """``int64 [len(sentences), width]`` ids padded with 0; ``width`` defaults to the longest row."""
        if isinstance(sentences, str):
            raise ConfigError("HashedNgrams.transform: expected a sequence of sentences, got one string")
        rows = [self.ids(s) for s in sentences]
        longest = max((len(r) for r in rows), default=1)
        width = longest if width is None else int(width)
        if width < 1:
            raise ConfigError(f"HashedNgrams.transform: width must be >= 1, got {width}")
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            r = r[:width]
            out[i, : len(r)] = r
        return out
