"""tandem.models: small and large models shared by every direction.

* classifiers on feature arrays: :func:`train_classifier`, :func:`predict_proba`, :func:`accuracy`
  (any ``nn.Module`` of the user's own), and the one MLP spec (:func:`mlp_spec`, :func:`build_mlp`);
* sequential recommenders: :class:`SASRec`, :class:`GRU4Rec` (:func:`build_seqrec` with the named cloud
  and device sizes), trained by :func:`fit_seqrec` and evaluated by :func:`evaluate_seqrec` (HR@k, NDCG@k);
* the compact :class:`WindowRecommender` baseline and :func:`count_parameters`.
"""

from tandem.models.classifier import accuracy, predict_proba, train_classifier
from tandem.models.gru4rec import GRU4Rec
from tandem.models.mlp import build_mlp, build_model, mlp_spec
from tandem.models.next_item import WindowRecommender, count_parameters
from tandem.models.sasrec import SASRec
from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_eval import evaluate_seqrec
from tandem.models.seqrec_training import fit_seqrec

__all__ = [
    "GRU4Rec",
    "SASRec",
    "SequentialRecommender",
    "WindowRecommender",
    "accuracy",
    "build_mlp",
    "build_model",
    "build_seqrec",
    "count_parameters",
    "evaluate_seqrec",
    "fit_seqrec",
    "mlp_spec",
    "predict_proba",
    "train_classifier",
]
