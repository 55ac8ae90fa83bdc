"""The text bench on a user's own file: ``tandem text bench --dataset reviews.csv``.

The file (CSV/TSV with a text and a label column, read by :func:`tandem.data.load_text_file`) must hold two
classes. A seeded ``dev_fraction`` of its rows is held out for evaluation; the rest is dealt into the bench's
data roles with sizes scaled to the file (:func:`user_file_preset`; options given beside it still win).
:class:`HashedEncoder` stands in for MiniLM where the text extra is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data.sst2 import TextDataset
from tandem.recipes.text.data import TextBenchConfig, TextData, embed_text_data
from tandem.text.features import ngram_ids, tokenize

#: Shares of the training rows per role, as in the SST-2 run (8,000 / 3,000 / 16,000 of 67,349 rows).
ROLE_SHARES = {"n_labeled": 0.12, "n_log": 0.045, "n_user_rows": 0.24}
#: Fewest rows of a role (the learned request policy's value model needs 10 logged rows).
MIN_ROLE_ROWS = 10


class HashedEncoder:
    """A :class:`~tandem.text.encoder.SentenceEncoder` with no pretraining: an L2-normalised hashed bag of words.

    It knows nothing the device's model cannot learn from the same labels, so the cloud model has no pretrained
    advantage; use it to try the pipeline where MiniLM is not installed, not to measure the cascade.
    """

    def __init__(self, dim: int = 512) -> None:
        if dim < 2:
            raise ConfigError(f"HashedEncoder: dim must be >= 2, got {dim}")
        self.dim = int(dim)
        self.name = f"tandem-hashed-bow-{self.dim}"

    def encode(self, sentences: Sequence[str], *, batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """``float32 [n, dim]`` embeddings."""
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            for j in ngram_ids(tokenize(sentence), self.dim, max_n=1):
                out[i, j - 1] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def load_user_texts(config: TextBenchConfig) -> TextDataset:
    """The labelled texts of ``config.dataset`` (a file), checked to hold the two classes the bench needs."""
    from tandem.data.text_files import load_text_file

    texts = load_text_file(config.dataset, text=config.text_column, label=config.label_column,
                           format=config.data_format, sep=config.separator)
    if texts.n_classes != 2:
        raise ConfigError(f"{config.dataset}: the text bench needs two classes (its models are binary); column "
                          f"{config.label_column!r} has {texts.n_classes}: {', '.join(texts.label_names[:8])}")
    return texts


def user_file_preset(n_rows: int, dev_fraction: float) -> dict[str, Any]:
    """TextBenchConfig values sized for a file of ``n_rows`` rows (role shares as in the SST-2 run)."""
    n_train = n_rows - max(1, round(n_rows * dev_fraction))
    sizes = {k: max(MIN_ROLE_ROWS, int(n_train * share)) for k, share in ROLE_SHARES.items()}
    if sum(sizes.values()) >= n_train:
        raise ConfigError(f"the dataset file has {n_rows} rows, too few for the text bench: it deals them into "
                          f"labelled, logged, users' and unlabelled roles of {MIN_ROLE_ROWS}+ rows each plus a "
                          f"held-out share (give it 100 rows or more)")
    labeled = sizes["n_labeled"]
    n_users = max(2, min(500, sizes["n_user_rows"] // 20))
    return {**sizes, "n_users": n_users, "fed_clients": min(50, n_users),
            "budgets": tuple(sorted({b for b in (labeled // 4, labeled // 2) if b >= 1})),
            "random_repeats": 5 if n_rows < 20_000 else 20}


def user_text_data(config: TextBenchConfig, texts: TextDataset, *, encoder: Any = None,
                   progress: bool = False) -> TextData:
    """Split ``texts`` into train and a held-out dev share, then embed and deal roles as for SST-2."""
    n = len(texts)
    n_dev = max(1, round(n * config.dev_fraction))
    order = np.random.default_rng([config.seed, 3]).permutation(n)
    dev_rows, train_rows = np.sort(order[:n_dev]), np.sort(order[n_dev:])
    labels = texts.labels if texts.labels is not None else np.zeros(n, dtype=np.int64)

    def part(rows: np.ndarray, split: str) -> TextDataset:
        return TextDataset([texts.sentences[i] for i in rows], labels[rows], split, texts.label_names)

    return embed_text_data(config, part(train_rows, "train"), part(dev_rows, "dev"), encoder=encoder,
                           progress=progress)
