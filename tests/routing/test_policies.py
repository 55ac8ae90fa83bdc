import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import RequestValueModel, available_policies, get_policy, register_policy
from tandem.routing.policies import InconsistencyPolicy, LearnedValuePolicy, inconsistency_score
from tandem.routing.policies.confidence import uncertainty_score
from tandem.routing.policy import RequestPolicy
from tandem.routing.signals import NO_CACHE_AGE, StepSignals


def signals(age: list[float], has: list[bool], overlap: list[float], conf: list[float]) -> StepSignals:
    n = len(age)
    z = np.zeros(n)
    return StepSignals(device=np.arange(n), step=np.zeros(n, int), history_len=np.ones(n, int),
                       confidence=np.array(conf), entropy=np.array(conf), margin=z, age=np.array(age, float),
                       has_cache=np.array(has), overlap=np.array(overlap), click_rr_cloud=z, click_rr_device=z,
                       click_sim_cloud=z, held_mass=z, held_top=z)


S = signals([0, 4, 5, NO_CACHE_AGE], [True, True, True, False], [1.0, 0.5, 0.0, 0.0], [0.9, 0.5, 0.1, 0.3])


def test_registry_lists_every_builtin_and_rejects_unknown() -> None:
    assert {"never", "always", "periodic", "random", "confidence", "inconsistency", "learned"} <= set(
        available_policies())
    with pytest.raises(ConfigError, match="unknown request policy 'nope'"):
        get_policy("nope")
    with pytest.raises(ConfigError, match="periodic"):
        get_policy("periodic", bogus=1)
    with pytest.raises(ConfigError, match="already registered"):

        @register_policy
        class Clash(RequestPolicy):
            name = "never"

            def scores(self, signals):  # pragma: no cover
                return np.zeros(len(signals))

            def decide(self, signals):  # pragma: no cover
                return np.zeros(len(signals), bool)


def test_never_always_periodic() -> None:
    assert not get_policy("never").decide(S).any()
    assert get_policy("always").decide(S).all()
    assert get_policy("periodic", period=5).decide(S).tolist() == [False, False, True, True]
    assert get_policy("periodic", period=5).with_knob(3.6).period == 4
    with pytest.raises(ConfigError):
        get_policy("periodic", period=0)


def test_random_rate_and_reset() -> None:
    p = get_policy("random", rate=0.3, seed=1)
    big = signals([0] * 20000, [True] * 20000, [0] * 20000, [0.5] * 20000)
    first = p.decide(big)
    assert abs(first.mean() - 0.3) < 0.02
    p.reset()
    assert np.array_equal(p.decide(big), first)
    with pytest.raises(ConfigError):
        get_policy("random", rate=1.5)


def test_confidence_and_inconsistency_scores_by_hand() -> None:
    np.testing.assert_allclose(uncertainty_score(S, "top1"), [0.1, 0.5, 0.9, 0.7])
    assert get_policy("confidence", threshold=0.6).decide(S).tolist() == [False, False, True, True]
    expected = [0.0, 0.5, 1.0, 1.0] + 1e-3 * np.array([0, 4, 5, NO_CACHE_AGE]) / NO_CACHE_AGE
    np.testing.assert_allclose(inconsistency_score(S.overlap, S.has_cache, S.age), expected)
    assert InconsistencyPolicy(threshold=0.6).decide(S).tolist() == [False, False, True, True]
    with pytest.raises(ConfigError, match="signal"):
        get_policy("confidence", signal="bogus")


def test_learned_needs_a_model_and_thresholds_its_prediction() -> None:
    with pytest.raises(ConfigError, match="RequestValueModel"):
        get_policy("learned")
    model = RequestValueModel()
    p = LearnedValuePolicy(model, threshold=0.0)
    scores = p.scores(S)
    assert scores.shape == (4,)
    clone = p.with_knob(float(np.median(scores)))
    assert clone.decide(S).sum() == (scores >= np.median(scores)).sum()
    assert p.threshold == 0.0  # with_knob copies
    with pytest.raises(ConfigError, match="no rate knob"):
        get_policy("never").with_knob(0.1)
