import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import StepSignals, get_policy
from tandem.text.cascade import (
    apgr,
    calibrated_masks,
    cascade_correct,
    cpt,
    curve_record,
    fit_learned_policy,
    oracle_curve,
    paired_bootstrap,
    pgr,
    policy_curve,
    top_rate_mask,
)

RATES = np.linspace(0.0, 1.0, 11)


def test_pgr_apgr_cpt_on_known_curves() -> None:
    assert pgr(0.85, 0.8, 0.9) == pytest.approx(0.5)
    np.testing.assert_allclose(pgr(np.array([0.8, 0.9]), 0.8, 0.9), [0.0, 1.0])
    assert apgr(RATES, RATES) == pytest.approx(0.5)  # random routing: PGR(r) = r
    assert apgr(RATES, np.ones_like(RATES)) == pytest.approx(1.0)
    assert cpt(RATES, RATES, 0.5) == pytest.approx(0.5)
    assert cpt(RATES, np.minimum(2 * RATES, 1.0), 0.8) == pytest.approx(0.4)
    assert np.isnan(cpt(RATES, np.zeros_like(RATES), 0.5))


def test_math_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="must beat"):
        pgr(0.5, 0.9, 0.8)
    with pytest.raises(ConfigError, match="ascending"):
        apgr(np.array([0.5, 0.1]), np.array([0.0, 1.0]))
    with pytest.raises(ConfigError):
        apgr(np.array([0.1]), np.array([0.1]))
    with pytest.raises(ConfigError):
        cascade_correct(np.ones(3), np.ones(3), np.ones(2))
    with pytest.raises(ConfigError):
        top_rate_mask(np.ones(3), 1.5)


def test_cascade_correct_and_top_rate_mask() -> None:
    small, large = np.array([1, 0, 0, 1], bool), np.array([0, 1, 0, 1], bool)
    np.testing.assert_array_equal(cascade_correct(small, large, np.array([1, 1, 0, 0], bool)), [0, 1, 0, 1])
    np.testing.assert_array_equal(top_rate_mask(np.array([0.1, 0.9, 0.5, 0.2]), 0.5), [0, 1, 1, 0])


def _synthetic(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small model right with probability rising in its confidence; large model right 95% of the time."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, n)
    small_c = rng.random(n) < conf
    large_c = rng.random(n) < 0.95
    probs = np.stack([conf, 1 - conf], 1)
    return probs, small_c, large_c


def test_confidence_beats_random_and_oracle_bounds_both() -> None:
    probs, small_c, large_c = _synthetic()
    signals = StepSignals.from_probs(probs)
    conf = policy_curve(get_policy("confidence"), signals, small_c, large_c, RATES)
    rand = policy_curve(get_policy("random", seed=1), signals, small_c, large_c, RATES, repeats=10)
    oracle = oracle_curve(small_c, large_c, RATES)
    at = {name: pts[3] for name, pts in (("c", conf), ("r", rand), ("o", oracle))}
    assert at["c"].target == pytest.approx(0.3) and at["c"].rate == pytest.approx(0.3, abs=0.01)
    assert at["o"].accuracy >= at["c"].accuracy > at["r"].accuracy
    assert conf[0].pgr == 0.0 and conf[-1].pgr == pytest.approx(1.0)
    a_conf, a_rand = apgr(RATES, [p.pgr for p in conf]), apgr(RATES, [p.pgr for p in rand])
    assert a_conf > a_rand and a_rand == pytest.approx(0.5, abs=0.05)


def test_calibration_on_a_reference_sample_sets_the_rate() -> None:
    probs, small_c, large_c = _synthetic(seed=2)
    ref = StepSignals.from_probs(_synthetic(seed=3)[0])
    pts = policy_curve(get_policy("confidence"), StepSignals.from_probs(probs), small_c, large_c,
                       np.array([0.0, 0.3, 1.0]), reference=ref)
    assert pts[1].rate == pytest.approx(0.3, abs=0.04)  # another sample of the same traffic


def test_learned_policy_fits_on_logs_and_routes_uncertain_rows_first() -> None:
    probs, small_c, large_c = _synthetic(4000, seed=4)
    policy = fit_learned_policy(probs, small_c, large_c, epochs=5)
    scores = policy.scores(StepSignals.from_probs(np.array([[0.55, 0.45], [0.99, 0.01]])))
    assert scores[0] > scores[1]


def test_curve_record_matches_the_result_schema() -> None:
    _, small_c, large_c = _synthetic(200)
    record = curve_record("oracle", oracle_curve(small_c, large_c, RATES))
    assert record["x"] == "request_rate" and record["y"] == "accuracy" and len(record["points"]) == len(RATES)
    assert {"x", "y", "label"} <= set(record["points"][0])


def test_paired_bootstrap_brackets_the_difference() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.8).astype(float)
    b = np.where(rng.random(2000) < 0.9, a, 1 - a)  # b agrees with a 90% of the time
    diff, lo, hi = paired_bootstrap(a, b, n_boot=500)
    assert lo <= diff <= hi and hi - lo < 0.05
    same = paired_bootstrap(a, a, n_boot=50)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError):
        paired_bootstrap(a, b[:10])


def test_calibrated_masks_hit_the_rate_and_random_gives_one_mask_per_seed() -> None:
    probs, _, _ = _synthetic(1000)
    signals = StepSignals.from_probs(probs)
    (mask,) = calibrated_masks(get_policy("confidence"), 0.2, signals)
    assert mask.mean() == pytest.approx(0.2, abs=0.002)
    masks = calibrated_masks(get_policy("random"), 0.2, signals, repeats=4)
    assert len(masks) == 4 and not np.array_equal(masks[0], masks[1])
    assert not calibrated_masks(get_policy("confidence"), 0.0, signals)[0].any()
