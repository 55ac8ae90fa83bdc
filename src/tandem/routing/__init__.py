"""tandem.routing: cloud for device — when a device should ask the cloud's large model, and how answers combine.

* request policies, one extension point (:class:`RequestPolicy`, registry :func:`get_policy`): ``never``,
  ``always``, ``periodic``, ``random``, ``confidence``, ``inconsistency``, ``learned`` (IntellectReq-style
  request value, :func:`fit_request_value`);
* budget control (:class:`GlobalRateCap`, :class:`TokenBucket`) and calibration to a target rate
  (:func:`calibrate`) or to a quality target at the fewest requests (:func:`calibrate_to_quality`);
* combination on the device (:func:`get_combiner`: small only, cloud list, score fusion, optionally weighted by
  the held answer's age with weights from :func:`fit_age_weights`, EdgeRec-style re-ranking with fresh clicks);
* anticipatory cloud answers (:class:`Anticipation`: the cloud also sends its answer after each click it
  expects, so a held answer stays fresh while the user clicks what it anticipated);
* the streaming session simulator (:class:`StreamSimulator`) that measures all of it on real sequences;
* split computing (:mod:`tandem.routing.split`, Neurosurgeon-style partitioning);
* cascades of any classifier pair (:func:`cascade_curve`: quality vs request rate of a policy at each budget,
  with RouteLLM's :func:`pgr` / :func:`apgr` / :func:`cpt`).

Each built-in policy is also a class (:class:`ConfidencePolicy`, :class:`RandomBudgetPolicy`, ...).
"""

from tandem.routing.agent import AgentPolicy
from tandem.routing.anticipate import Anticipation, anticipatory_answer
from tandem.routing.budget import BudgetChain, GlobalRateCap, TokenBucket, cap_requests, token_bucket_step
from tandem.routing.calibrate import Calibration, calibrate, calibrate_to_quality, quantile_threshold
from tandem.routing.cascade import CurvePoint, apgr, cascade_curve, cpt, oracle_curve, pgr, policy_curve
from tandem.routing.combine import Combiner, HeldAnswer, available_combiners, get_combiner
from tandem.routing.policies import (
    AlwaysPolicy,
    ConfidencePolicy,
    InconsistencyPolicy,
    LearnedValuePolicy,
    NeverPolicy,
    PeriodicPolicy,
    RandomBudgetPolicy,
)
from tandem.routing.policy import RequestPolicy, ThresholdPolicy, available_policies, get_policy, register_policy
from tandem.routing.scorers import CloudTable, FactorizedDevice, ModelCloud, ModelDevice
from tandem.routing.signals import FEATURES, StepSignals, feature_matrix, signals_from_features
from tandem.routing.split import LayerProfile, PowerModel, choose_partition, partition_costs, profile_stages
from tandem.routing.split_run import SplitRun, measure_partitions, run_split, split_cnn
from tandem.routing.staleness import AgeTable, age_table, fit_age_weights
from tandem.routing.stream import StreamRun, StreamSimulator
from tandem.routing.stream_state import StepLog
from tandem.routing.streams import Streams, UserSplit, split_users
from tandem.routing.value_model import RequestValueModel, captured_gain, fit_request_value

__all__ = [
    "FEATURES",
    "AgeTable",
    "AgentPolicy",
    "AlwaysPolicy",
    "Anticipation",
    "BudgetChain",
    "Calibration",
    "CloudTable",
    "Combiner",
    "ConfidencePolicy",
    "CurvePoint",
    "FactorizedDevice",
    "GlobalRateCap",
    "HeldAnswer",
    "InconsistencyPolicy",
    "LayerProfile",
    "LearnedValuePolicy",
    "ModelCloud",
    "ModelDevice",
    "NeverPolicy",
    "PeriodicPolicy",
    "PowerModel",
    "RandomBudgetPolicy",
    "RequestPolicy",
    "RequestValueModel",
    "SplitRun",
    "StepLog",
    "StepSignals",
    "StreamRun",
    "StreamSimulator",
    "Streams",
    "ThresholdPolicy",
    "TokenBucket",
    "UserSplit",
    "age_table",
    "anticipatory_answer",
    "apgr",
    "available_combiners",
    "available_policies",
    "calibrate",
    "calibrate_to_quality",
    "cap_requests",
    "captured_gain",
    "cascade_curve",
    "choose_partition",
    "cpt",
    "feature_matrix",
    "fit_age_weights",
    "fit_request_value",
    "get_combiner",
    "get_policy",
    "measure_partitions",
    "oracle_curve",
    "partition_costs",
    "pgr",
    "policy_curve",
    "profile_stages",
    "quantile_threshold",
    "register_policy",
    "run_split",
    "signals_from_features",
    "split_cnn",
    "split_users",
    "token_bucket_step",
]
