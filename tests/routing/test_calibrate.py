import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import calibrate, get_policy, quantile_threshold
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
