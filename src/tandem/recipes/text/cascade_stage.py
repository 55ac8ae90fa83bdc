"""The cascade stage of the SST-2 benchmark: every policy's accuracy-vs-request-rate curve and its headline point.

Policies: ``confidence`` (small model's top-1 probability), ``learned`` (request-value MLP fitted on the logged
rows), ``random`` (at budget, averaged over seeds) and the ``oracle`` upper bound. Each threshold is calibrated
to the target rate on the dev sentences' small-model scores alone (unlabelled), then applied to them; the
cloud is charged for what it is asked: real request/answer envelopes (sentence UTF-8 up, fp16 probabilities
down) and MiniLM FLOPs for the routed sentences' tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tandem.core.envelope import encode_state
from tandem.recipes.text.data import TextBenchConfig
from tandem.report.results import StageRecord
from tandem.routing import StepSignals, get_policy
from tandem.text.cascade import (
    CurvePoint,
    apgr,
    calibrated_masks,
    cascade_correct,
    cpt,
    curve_record,
    fit_learned_policy,
    oracle_curve,
    paired_bootstrap,
    policy_curve,
    top_rate_mask,
)
from tandem.text.encoder import FLOPS_PER_TOKEN, count_tokens


def request_bytes(sentence: str) -> int:
    """Bytes of one cloud request: the sentence's UTF-8 as a uint8 tensor in a tandem envelope (really encoded)."""
    return len(encode_state({"text": torch.frombuffer(bytearray(sentence.encode("utf-8")) or bytearray(1),
                                                      dtype=torch.uint8)}, "fp32"))


def answer_bytes(n_classes: int = 2) -> int:
    """Bytes of one answer: the large model's class probabilities, fp16 on the wire."""
    return len(encode_state({"probs": torch.zeros(n_classes)}, "fp16"))


@dataclass
class CascadeOutcome:
    records: list[StageRecord]
    curves: list[dict[str, Any]]
    headline: dict[str, float]
    points: dict[str, list[CurvePoint]] = field(default_factory=dict)


def _confidence_intervals(cfg: TextBenchConfig, policy: Any, signals: StepSignals, small_c: np.ndarray,
                          large_c: np.ndarray) -> dict[str, float]:
    """95% paired-bootstrap CIs at the headline rate: confidence cascade vs random routing, vs the large model.

    Random routing at rate ``r`` is scored by its expectation per sentence, ``(1 - r) small + r large``.
    """
    mask = calibrated_masks(policy, cfg.headline_rate, signals)[0]
    cascade = cascade_correct(small_c, large_c, mask).astype(np.float64)
    r = float(mask.mean())
    random = (1 - r) * small_c + r * large_c
    out = {}
    for name, other in (("random", random), ("large", large_c.astype(np.float64))):
        diff, lo, hi = paired_bootstrap(cascade, other, seed=cfg.seed)
        out.update({f"confidence_minus_{name}": diff, f"confidence_minus_{name}_lo": lo,
                    f"confidence_minus_{name}_hi": hi})
    return out


_NOTES = {"oracle": "upper bound: routes exactly the sentences the small model gets wrong and the large one right",
          "random": "mean of {} seeds"}


def _point_at(points: list[CurvePoint], rate: float) -> CurvePoint:
    return min(points, key=lambda p: abs(p.target - rate))


def run_cascade(cfg: TextBenchConfig, *, small_dev: np.ndarray, large_dev: np.ndarray, dev_labels: np.ndarray,
                small_log: np.ndarray, large_log: np.ndarray, log_labels: np.ndarray,
                dev_sentences: Sequence[str]) -> CascadeOutcome:
    """Curves, APGR/CPT and one StageRecord per policy at ``cfg.headline_rate`` (plus small-only and large-only)."""
    rates = np.asarray(cfg.rates, dtype=np.float64)
    small_c, large_c = small_dev.argmax(1) == dev_labels, large_dev.argmax(1) == dev_labels
    signals = StepSignals.from_probs(small_dev)
    policies = {
        "confidence": get_policy("confidence", signal="top1", seed=cfg.seed),
        "learned": fit_learned_policy(small_log, small_log.argmax(1) == log_labels, large_log.argmax(1) == log_labels,
                                      seed=cfg.seed),
        "random": get_policy("random", seed=cfg.seed),
    }
    points = {name: policy_curve(p, signals, small_c, large_c, rates, repeats=cfg.random_repeats)
              for name, p in policies.items()}
    points["oracle"] = oracle_curve(small_c, large_c, rates)
    tokens = count_tokens(dev_sentences)
    up = np.array([request_bytes(s) for s in dev_sentences], dtype=np.int64)
    down = answer_bytes(small_dev.shape[1])
    acc_s, acc_l = float(small_c.mean()), float(large_c.mean())
    records = [
        StageRecord(stage="cascade: small only", direction="cloud_for_device", metrics={"accuracy": acc_s},
                    extra={"request_rate": 0.0, "pgr": 0.0}),
        StageRecord(stage="cascade: large only", direction="cloud_for_device", metrics={"accuracy": acc_l},
                    extra={"request_rate": 1.0, "pgr": 1.0}, bytes_up=int(up.sum()), bytes_down=down * len(up),
                    cloud_flops=float(tokens.sum() * FLOPS_PER_TOKEN), cloud_requests=len(up)),
    ]
    headline: dict[str, float] = {"cascade_rate": cfg.headline_rate}
    curves = []
    for name, pts in points.items():
        pgrs = np.array([p.pgr for p in pts])
        summary = {"apgr": apgr(rates, pgrs), "cpt50": cpt(rates, pgrs, 0.5), "cpt80": cpt(rates, pgrs, 0.8)}
        at = _point_at(pts, cfg.headline_rate)
        masks = ([top_rate_mask(large_c.astype(float) - small_c, at.target)] if name == "oracle" else
                 calibrated_masks(policies[name], at.target, signals, repeats=cfg.random_repeats))
        routed = np.mean([m.sum() for m in masks])  # requests the cloud answers (mean over random seeds)
        records.append(StageRecord(
            stage=f"cascade: {name} @{cfg.headline_rate:.0%}", direction="cloud_for_device",
            metrics={"accuracy": at.accuracy},
            extra={"request_rate": round(at.rate, 4), "pgr": round(at.pgr, 4),
                   **{k: round(v, 4) for k, v in summary.items() if np.isfinite(v)}},
            bytes_up=round(float(np.mean([up[m].sum() for m in masks]))), bytes_down=round(down * routed),
            cloud_requests=round(routed),
            cloud_flops=float(np.mean([tokens[m].sum() for m in masks]) * FLOPS_PER_TOKEN),
            notes=_NOTES.get(name, "threshold calibrated on unlabelled dev scores").format(cfg.random_repeats)))
        curves.append(curve_record(name, pts))
        headline.update({f"{name}_accuracy": at.accuracy, f"{name}_pgr": at.pgr, f"{name}_rate": at.rate,
                         f"{name}_apgr": summary["apgr"]})
    headline["large_minus_small"] = acc_l - acc_s
    headline.update(_confidence_intervals(cfg, policies["confidence"], signals, small_c, large_c))
    return CascadeOutcome(records, curves, headline, points)
