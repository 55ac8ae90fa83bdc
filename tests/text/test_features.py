import zlib

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.text.features import HashedNgrams, ngram_ids, tokenize


def test_tokenize_splits_words_clitics_and_punctuation() -> None:
    tokens = tokenize("It 's NOT bad , does n't bore !")
    assert tokens == ["it", "'", "s", "not", "bad", ",", "does", "n't", "bore", "!"]


def test_ngram_ids_follow_the_documented_rule() -> None:
    ids = ngram_ids(["good", "film"], n_buckets=1000, max_n=2)
    expected = [zlib.crc32(g.encode()) % 1000 + 1 for g in ("1:good", "1:film", "2:good film")]
    assert ids == expected
    assert all(1 <= i <= 1000 for i in ids)


def test_transform_pads_with_zero_and_is_deterministic() -> None:
    f = HashedNgrams(n_buckets=64, max_n=2)
    x = f.transform(["a good film", "bad", ""])
    assert x.dtype == np.int64 and x.shape == (3, 5)
    assert (x[1, 1:] == 0).all() and x[1, 0] > 0
    assert x[2, 0] == 1 and (x[2, 1:] == 0).all()  # empty sentence -> one placeholder id, never all padding
    np.testing.assert_array_equal(x, HashedNgrams(n_buckets=64, max_n=2).transform(["a good film", "bad", ""]))
    assert f.transform(["a good film"], width=2).shape == (1, 2)


def test_max_len_truncates() -> None:
    assert len(HashedNgrams(max_len=3).ids("one two three four five")) == 3


@pytest.mark.parametrize("kwargs", [{"n_buckets": 1}, {"max_n": 0}, {"max_n": 9}, {"max_len": 0}])
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        HashedNgrams(**kwargs)


def test_bad_inputs_are_rejected() -> None:
    f = HashedNgrams()
    with pytest.raises(ConfigError, match="one string"):
        f.transform("not a list")
    with pytest.raises(ConfigError, match="expected a string"):
        f.ids(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="width"):
        f.transform(["x"], width=0)
