"""The SST-2 bench on synthetic reviews: a toy run that needs neither SST-2 nor MiniLM (tests, ``--synthetic``).

The reviews and the stand-in encoder are the library's (:mod:`tandem.text.synthetic`); this module only
sizes the bench for them and deals the synthetic rows into the bench's data roles.
"""

from __future__ import annotations

from tandem.core.errors import ConfigError
from tandem.recipes.text.data import TextBenchConfig, TextData, assign_roles
from tandem.text.features import HashedNgrams
from tandem.text.synthetic import LexiconEncoder, synthetic_reviews

#: TextBenchConfig overrides that fit the synthetic set of :func:`synthetic_text_data` (4,000 training rows).
SYNTHETIC_CONFIG = {"n_labeled": 500, "n_log": 500, "n_user_rows": 1500, "n_buckets": 2**12, "n_users": 30,
                    "fed_clients": 10, "budgets": (100, 250), "random_repeats": 5,
                    "latency_repeats": 1}


def synthetic_text_data(config: TextBenchConfig, *, n_train: int = 4000, n_dev: int = 500, seed: int = 0) -> TextData:
    """A :class:`~tandem.recipes.text.data.TextData` of synthetic reviews for ``config`` (a TextBenchConfig)."""
    if not isinstance(config, TextBenchConfig):
        raise ConfigError(f"synthetic_text_data: expected a TextBenchConfig, got {type(config).__name__}")
    train = synthetic_reviews(n_train, seed=seed, split="train")
    dev = synthetic_reviews(n_dev, seed=seed + 1, split="dev")
    features, encoder = HashedNgrams(n_buckets=config.n_buckets, max_n=config.max_n), LexiconEncoder()
    roles = assign_roles(n_train, n_labeled=config.n_labeled, n_log=config.n_log, n_user_rows=config.n_user_rows,
                         n_pool=config.n_pool, seed=config.seed)
    return TextData(train, dev, features.transform(train.sentences), features.transform(dev.sentences),
                    encoder.encode(train.sentences), encoder.encode(dev.sentences), roles)
