import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import calibrate, get_policy, quantile_threshold
from tandem.routing.calibrate import calibrate_to_quality
from tandem.routing.policies.confidence import uncertainty_score
from tandem.routing.signals import StepSignals


def test_quantile_threshold_by_hand() -> None:
    scores = np.array([0.1, 0.4, 0.3, 0.9, 0.2])
    assert quantile_threshold(scores, 0.4) == pytest.approx(0.4)  # two of five scores are >= 0.4
    assert quantile_threshold(scores, 1.0) == pytest.approx(0.1)
    assert (scores >= quantile_threshold(scores, 0.0)).sum() == 0
    with pytest.raises(ConfigError):
        quantile_threshold(np.array([]), 0.5)
    with pytest.raises(ConfigError):
        quantile_threshold(scores, 1.2)


def _signals(conf: np.ndarray) -> StepSignals:
    n, z = conf.size, np.zeros(conf.size)
    return StepSignals(device=np.arange(n), step=np.zeros(n, int), history_len=np.ones(n, int), confidence=conf,
                       entropy=conf, margin=z, age=z, has_cache=np.ones(n, bool), overlap=z, click_rr_cloud=z,
                       click_rr_device=z, click_sim_cloud=z, held_mass=z, held_top=z)


def test_calibrate_each_knob_kind() -> None:
    conf = np.random.default_rng(0).random(5000)
    sig = _signals(conf)

    def measure(policy) -> float:
        return float(policy.decide(sig).mean())

    cal = calibrate(get_policy("confidence"), 0.2, measure, reference_scores=uncertainty_score(sig))
    assert abs(cal.rate - 0.2) <= 0.005 and cal.policy.threshold != get_policy("confidence").threshold
    assert calibrate(get_policy("random"), 0.3, lambda p: p.rate).policy.rate == 0.3
    period = calibrate(get_policy("periodic"), 0.3, lambda p: 1.0 / p.period)
    assert period.policy.period == 3 and len(period.tried) == 2
    with pytest.raises(ConfigError, match="reference_scores"):
        calibrate(get_policy("confidence"), 0.2, measure)
    with pytest.raises(ConfigError, match="no knob"):
        calibrate(get_policy("always"), 0.2, measure)
    with pytest.raises(ConfigError, match="target"):
        calibrate(get_policy("random"), 0.0, measure)


def test_rate_knobs_are_set_without_simulating() -> None:
    def measure(policy) -> float:
        raise AssertionError("a rate knob needs no simulation")

    cal = calibrate(get_policy("random"), 0.25, measure)
    assert cal.policy.rate == 0.25 and cal.rate == 0.25


def test_calibrate_to_quality_finds_the_fewest_requests_that_reach_the_target() -> None:
    values = np.random.default_rng(1).exponential(size=4000)  # each step's gain of a request, known exactly
    total = values.sum()

    def measure(policy) -> tuple[float, float]:
        asked = values >= policy.threshold
        return float(asked.mean()), float(values[asked].sum() / total)

    policy = get_policy("confidence")
    cal = calibrate_to_quality(policy, 0.5, measure, reference_scores=values, max_rate=0.5, max_iter=12)
    rate, share = measure(cal.policy)
    assert share >= 0.5 and cal.rate == pytest.approx(rate)
    # the best possible: asking at the largest gains first, the share 0.5 needs this many steps
    needed = np.searchsorted(np.cumsum(np.sort(values)[::-1]) / total, 0.5) / values.size
    assert needed <= rate <= needed + 0.01 and rate < 0.5
    # a target the cap cannot reach spends the whole cap after one trial
    capped = calibrate_to_quality(policy, 0.99, measure, reference_scores=values, max_rate=0.3)
    assert len(capped.tried) == 1 and capped.rate == pytest.approx(0.3, abs=1e-3)
    for bad in ({"target_share": 0.0}, {"target_share": 1.5}, {"max_rate": 0.0}):
        args = {"target_share": 0.5, "max_rate": 0.5, **bad}
        with pytest.raises(ConfigError, match="calibrate_to_quality"):
            calibrate_to_quality(policy, args["target_share"], measure, reference_scores=values,
                                 max_rate=args["max_rate"])
    with pytest.raises(ConfigError, match="threshold knob"):
        calibrate_to_quality(get_policy("random"), 0.5, measure, reference_scores=values)
    with pytest.raises(ConfigError, match="reference_scores"):
        calibrate_to_quality(policy, 0.5, measure, reference_scores=np.array([]))
