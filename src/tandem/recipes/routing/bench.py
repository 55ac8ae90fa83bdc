"""``tandem route bench``: the quality-vs-request-rate curve of every request policy, measured on real streams.

Protocol (one data set):

1. Users are split into train / log / eval (:func:`tandem.routing.streams.split_users`); the large and small
   models are trained on the train users (:mod:`tandem.recipes.routing.prepare`). With fusion, the cloud's weight
   for an answer of each age is fitted on the log users (:func:`tandem.routing.staleness.fit_age_weights`).
2. The learned policy's training data is logged on the *log* users under random requests at several rates,
   recording at every step the local signals and the measured gain of a request (both counterfactuals);
   a second round logs the learned policy itself (on-policy, still log users) and refits. The value model is
   an average of ``value_members`` networks trained from different seeds.
3. Every policy's knob is calibrated to each target rate on the *log* users (:func:`calibrate`).
4. Every calibrated policy is replayed once on the *eval* users: each point of the curve is a measurement
   (its own request rate, NDCG@10, HR@10, bytes, latency, cloud FLOPs), never an interpolation.
   ``never`` and ``always`` bound the curve.
5. The learned policy is also calibrated to a *quality target* under a rate cap (:mod:`.quality`): the
   fewest requests that recover the target share of the gap on the log users, replayed on the eval users.
6. Every share of the gap and gain-per-request ratio gets a 95% interval from a paired bootstrap over the
   eval users (:mod:`.uncertainty`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tandem.models.progress import progress_bar
from tandem.recipes.routing.prepare import BenchSetup, RouteBenchConfig, prepare
from tandem.recipes.routing.quality import QualityPoint, gain_per_request, quality_points, share_of_gap
from tandem.routing.budget import GlobalRateCap, TokenBucket
from tandem.routing.calibrate import Calibration, calibrate
from tandem.routing.combine import get_combiner
from tandem.routing.policies import LearnedValuePolicy
from tandem.routing.policy import RequestPolicy, get_policy
from tandem.routing.signals import signals_from_features
from tandem.routing.stream import StreamRun, StreamSimulator
from tandem.routing.stream_state import StepLog
from tandem.routing.uncertainty import PairedBootstrap
from tandem.routing.value_model import RequestValueModel, ValueFitReport, fit_request_value


@dataclass
class PolicyPoint:
    """One measured point: a policy calibrated to ``target`` on log users, replayed on eval users."""

    policy: str
    target: float | None
    run: StreamRun
    calibration_rate: float | None = None
    knob: dict[str, float] = field(default_factory=dict)
    recovered: float = 0.0
    gain_vs_random: float | None = None
    recovered_ci: tuple[float, float] | None = None
    gain_vs_random_ci: tuple[float, float] | None = None


@dataclass
class BenchOutcome:
    """Everything one data set's bench measured."""

    config: RouteBenchConfig
    setup_info: dict[str, Any]
    never: StreamRun
    always: StreamRun
    points: list[PolicyPoint]
    value_report: dict[str, Any]
    budget: list[dict[str, Any]]
    combiners: list[dict[str, Any]]
    wall_s: float = 0.0
    quality: list[QualityPoint] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return f"ndcg@{self.config.k}"


def _concat(logs: list[StepLog]) -> StepLog:
    return StepLog(*(np.concatenate([getattr(g, f) for g in logs])
                     for f in ("features", "gains", "users", "scores", "steps")))


def learn_value_model(setup: BenchSetup, *, rounds: int = 2, progress: bool = False
                      ) -> tuple[RequestValueModel, ValueFitReport, StepLog]:
    """Log random requests on the log users, fit the value model, then refit on its own on-policy logs."""
    cfg, sim = setup.config, setup.log_sim
    horizon: dict[str, Any] = {"horizon": cfg.value_horizon, "discount": cfg.value_discount}
    logs = [sim.run(get_policy("random", rate=r, seed=cfg.seed + i), log=True, description=f"log random {r:.0%}",
                    **horizon).log for i, r in enumerate(cfg.log_rates)]
    data = _concat([g for g in logs if g is not None])
    model, report = fit_request_value(data.features, data.gains, groups=data.users, seed=cfg.seed,
                                      members=cfg.value_members)
    for extra in range(1, rounds):
        policy = _calibrated(LearnedValuePolicy(model), cfg.value_refit_rate, setup, data).policy
        own = sim.run(policy, log=True, description=f"log learned (round {extra + 1})", **horizon).log
        if own is not None:
            data = _concat([data, own])
        model, report = fit_request_value(data.features, data.gains, groups=data.users, seed=cfg.seed + extra,
                                          members=cfg.value_members)
    return model, report, data


def _calibrated(policy: RequestPolicy, target: float, setup: BenchSetup, data: StepLog) -> Calibration:
    reference = policy.scores(signals_from_features(data.features)) if policy.knob == "threshold" else None
    return calibrate(policy, target, lambda p: setup.log_sim.run(p).request_rate, reference_scores=reference,
                     tol=max(0.005, 0.05 * target), max_iter=setup.config.calibrate_iters)


def _base_policy(name: str, model: RequestValueModel, seed: int) -> RequestPolicy:
    return LearnedValuePolicy(model, seed=seed) if name == "learned" else get_policy(name, seed=seed)


def _budget_rows(sim: StreamSimulator, model: RequestValueModel, points: list[PolicyPoint], rate: float,
                 never: float, gap: float, metric: str) -> list[dict[str, Any]]:
    """Budget control on the eval users: a global cap and per-device token buckets under the learned policy."""
    eager = next((p for p in points if p.policy == "learned" and p.target is not None and p.target > rate), None)
    rows = []
    cases: list[tuple[str, RequestPolicy, Any]] = [
        (f"learned, wants all, global cap {rate:.0%}", LearnedValuePolicy(model, threshold=-1e9), GlobalRateCap(rate)),
        (f"learned, wants all, token bucket {rate:.0%}/step, burst 2, starts with 1",
         LearnedValuePolicy(model, threshold=-1e9), TokenBucket(rate, burst=2.0, initial=1.0)),
        (f"random {rate:.0%} (no budget)", get_policy("random", rate=rate), None),
    ]
    if eager is not None:
        knob = eager.knob.get("threshold", 0.0)
        cases.insert(0, (f"learned calibrated to {eager.target:.0%}, global cap {rate:.0%}",
                         LearnedValuePolicy(model, threshold=knob), GlobalRateCap(rate)))
    for label, policy, budget in cases:
        run = sim.run(policy, budget, description=f"budget: {label}")
        per_device = run.requested if run.requested is not None else None
        rows.append({"case": label, "request_rate": run.request_rate, metric: run.metrics[metric],
                     "recovered": share_of_gap(run, never, gap, metric),
                     "max_device_rate": _max_device_rate(sim, per_device)})
    return rows


def _max_device_rate(sim: StreamSimulator, requested: np.ndarray | None) -> float | None:
    """The highest request rate of one device with 20+ steps; None when no device has that many (JSON has no NaN)."""
    if requested is None:
        return None
    s = sim.streams
    counts = np.add.reduceat(requested.astype(np.int64), s.step_offsets[:-1][s.steps_per_user > 0])
    steps = s.steps_per_user[s.steps_per_user > 0]
    long = steps >= 20  # short streams make per-device rates noisy; report users with 20+ steps
    return float((counts[long] / steps[long]).max()) if long.any() else None


def _combiner_rows(sim: StreamSimulator, config: RouteBenchConfig, metric: str) -> list[dict[str, Any]]:
    """Each combiner at never / periodic(5) / random(``comparison_rate``) / always on the eval users."""
    combiners = {"small": get_combiner("small"), "cloud list": get_combiner("cloud"),
                 f"fusion w={config.fusion_weight}": get_combiner("fusion", weight=config.fusion_weight),
                 "rerank (EdgeRec-style)": get_combiner("rerank")}
    if getattr(sim.combiner, "age_weights", None):  # the bench's own age-aware fusion (fitted on log users)
        combiners["fusion, w by answer age"] = sim.combiner
    policies = {"never": get_policy("never"), "periodic(5)": get_policy("periodic", period=5),
                f"random {config.comparison_rate:.0%}": get_policy("random", rate=config.comparison_rate),
                "always": get_policy("always")}
    rows = []
    for name, combiner in combiners.items():
        variant = sim.with_combiner(combiner)
        row: dict[str, Any] = {"combiner": name}
        for label, policy in policies.items():
            if name == "small" and label != "never":
                continue
            row[label] = variant.run(policy, description=f"combiner {name}: {label}").metrics[metric]
        rows.append(row)
    return rows


def run_bench(config: RouteBenchConfig, *, progress: bool = False, setup: BenchSetup | None = None) -> BenchOutcome:
    """Run the whole protocol on one data set (see the module docs)."""
    start = time.perf_counter()
    setup = setup or prepare(config, progress=progress)
    metric = f"ndcg@{config.k}"
    ev = setup.eval_sim
    ev.keep_steps = True
    never, always = ev.run(get_policy("never")), ev.run(get_policy("always"))
    gap = always.metrics[metric] - never.metrics[metric]
    model, report, data = learn_value_model(setup, rounds=config.value_rounds, progress=progress)
    points: list[PolicyPoint] = []
    with progress_bar(progress) as bar:
        task = bar.add_task("calibrate + replay policies", total=len(config.policies) * len(config.rates))
        for name in config.policies:
            for target in config.rates:
                cal = _calibrated(_base_policy(name, model, config.seed), target, setup, data)
                run = ev.run(cal.policy, description=f"eval {name} @ {target:.0%}")
                knob = {cal.policy.knob: float(getattr(cal.policy, cal.policy.knob))} if cal.policy.knob else {}
                recovered = share_of_gap(run, never.metrics[metric], gap, metric)
                points.append(PolicyPoint(name, target, run, cal.rate, knob, recovered))
                bar.advance(task)
    _gain_vs_random(points, never.metrics[metric], metric)
    at_cap = next((p.run for p in points if p.policy == "random" and p.target == config.quality_cap), None)
    if at_cap is None and config.quality_targets:
        at_cap = ev.run(get_policy("random", rate=config.quality_cap, seed=config.seed),
                        description="eval random at cap")
    quality = quality_points(setup, model, data, at_cap, never.metrics[metric], gap, metric)
    _intervals(points, quality, never, always, at_cap,
               PairedBootstrap(ev.streams.step_user, config.k, n_boot=config.bootstrap,
                               seed=config.seed))
    budget = _budget_rows(ev, model, points, config.comparison_rate, never.metrics[metric], gap, metric)
    combiners = _combiner_rows(ev, config, metric)
    value_report = {"best_epoch": report.best_epoch, "captured_gain_valid": report.captured,
                    "n_train": report.n_train, "n_valid": report.n_valid, "member_epochs": report.member_epochs,
                    "logged_steps": int(data.gains.size),
                    "mean_gain": float(data.gains.mean()), "positive_gain_share": float((data.gains > 0).mean())}
    return BenchOutcome(config, setup.model_info, never, always, points, value_report, budget, combiners,
                        time.perf_counter() - start, quality)


def _gain_vs_random(points: list[PolicyPoint], never: float, metric: str) -> None:
    """Gain per request of each point over random's at the same target rate (the headline ratio)."""
    random = {p.target: p for p in points if p.policy == "random"}
    for p in points:
        base = random.get(p.target)
        mine = gain_per_request(p.run, never, metric)
        theirs = gain_per_request(base.run, never, metric) if base is not None else None
        if mine is None or theirs is None:
            continue
        p.gain_vs_random = mine / theirs if theirs > 0 else None


def _intervals(points: list[PolicyPoint], quality: list[QualityPoint], never: StreamRun, always: StreamRun,
               random_at_cap: StreamRun | None, boot: PairedBootstrap) -> None:
    """95% intervals of each point's share of the gap and gain-per-request ratio, resampling eval users."""
    random = {p.target: p.run for p in points if p.policy == "random"}
    for p in points:
        p.recovered_ci = boot.interval(boot.share(p.run, never, always))
        base = random.get(p.target)
        if p.gain_vs_random is not None and base is not None:
            p.gain_vs_random_ci = boot.interval(boot.gain_ratio(p.run, base, never))
    for q in quality:
        q.recovered_ci = boot.interval(boot.share(q.run, never, always))
        if q.gain_vs_random is not None and random_at_cap is not None:
            q.gain_vs_random_ci = boot.interval(boot.gain_ratio(q.run, random_at_cap, never))
