"""The learned policy at a quality target: the fewest requests that recover a set share of the cloud's gain.

A request budget is a cap, not a quota. Calibrated to a *rate*, a policy spends the whole budget; calibrated
to a *quality target* (a share of the never->always gap, measured on the log users), the learned policy asks
only where its predicted gain is large enough to reach that target, and its spend falls below the cap
wherever the target is reachable with fewer requests. The gain per request is then compared with random
requests spending the whole cap, the baseline a device without a value model would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.recipes.routing.prepare import BenchSetup
from tandem.routing.calibrate import calibrate_to_quality
from tandem.routing.policies import LearnedValuePolicy
from tandem.routing.policy import get_policy
from tandem.routing.signals import signals_from_features
from tandem.routing.stream import StreamRun
from tandem.routing.stream_state import StepLog
from tandem.routing.value_model import RequestValueModel


@dataclass
class QualityPoint:
    """The learned policy calibrated on log users to ``target_share`` spending at most ``cap``, run on eval users
    (like every calibrated point, its eval rate is measured, not forced: it can differ a little from the log's)."""

    target_share: float
    cap: float
    run: StreamRun
    calibration_rate: float
    threshold: float
    recovered: float
    gain_vs_random: float | None
    recovered_ci: tuple[float, float] | None = None
    gain_vs_random_ci: tuple[float, float] | None = None

    def to_dict(self, metric: str) -> dict[str, Any]:
        return {"target_share": self.target_share, "cap": self.cap, "calibration_rate": self.calibration_rate,
                "threshold": self.threshold, "request_rate": self.run.request_rate,
                metric: self.run.metrics[metric], "recovered": self.recovered, "recovered_ci95": self.recovered_ci,
                "gain_per_request_vs_random_at_cap": self.gain_vs_random,
                "gain_per_request_vs_random_at_cap_ci95": self.gain_vs_random_ci}


def share_of_gap(run: StreamRun, never: float, gap: float, metric: str) -> float:
    """The share of the never->always ``gap`` that ``run`` recovers above ``never`` (0 without a gap)."""
    return (run.metrics[metric] - never) / gap if gap > 0 else 0.0


def gain_per_request(run: StreamRun, never: float, metric: str) -> float | None:
    """``run``'s quality gain over ``never`` per unit of request rate (None: it made no requests)."""
    return (run.metrics[metric] - never) / run.request_rate if run.request_rate > 0 else None


def quality_points(setup: BenchSetup, model: RequestValueModel, data: StepLog, random_at_cap: StreamRun | None,
                   eval_never: float, eval_gap: float, metric: str) -> list[QualityPoint]:
    """One :class:`QualityPoint` per ``config.quality_targets``, spending at most ``config.quality_cap``.

    The log users' own never/always runs define the share the calibration aims at; every run of the search is
    on log users, and the chosen threshold is replayed once on the eval users. ``random_at_cap``: random
    requests at the cap's rate on the eval users, the gain-per-request baseline (None: not compared).
    """
    cfg, log = setup.config, setup.log_sim
    if not cfg.quality_targets:
        return []
    log_never = log.run(get_policy("never"), description="log never").metrics[metric]
    log_gap = log.run(get_policy("always"), description="log always").metrics[metric] - log_never
    base = LearnedValuePolicy(model, seed=cfg.seed)
    reference = base.scores(signals_from_features(data.features))

    def measure(policy: LearnedValuePolicy) -> tuple[float, float]:
        run = log.run(policy, description="quality target: log users")
        return run.request_rate, share_of_gap(run, log_never, log_gap, metric)

    baseline = gain_per_request(random_at_cap, eval_never, metric) if random_at_cap is not None else None
    points = []
    for target in cfg.quality_targets:
        cal = calibrate_to_quality(base, target, measure, reference_scores=reference, max_rate=cfg.quality_cap,
                                   max_iter=cfg.quality_iters)
        run = setup.eval_sim.run(cal.policy, description=f"eval learned, quality target {target:.0%}")
        mine = gain_per_request(run, eval_never, metric) or 0.0
        ratio = mine / baseline if baseline and baseline > 0 else None
        points.append(QualityPoint(target, cfg.quality_cap, run, cal.rate, float(cal.policy.threshold),
                                   share_of_gap(run, eval_never, eval_gap, metric), ratio))
    return points
