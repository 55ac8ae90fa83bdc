import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import BudgetChain, GlobalRateCap, TokenBucket, cap_requests, token_bucket_step


def test_token_bucket_step_by_hand() -> None:
    allowed, tokens = token_bucket_step(np.array([0.5, 0.9, 1.8]), np.array([True, True, False]), 0.2, 2.0)
    assert allowed.tolist() == [False, True, False]
    np.testing.assert_allclose(tokens, [0.7, 0.1, 2.0])


def test_cap_requests_keeps_highest_priority() -> None:
    want = np.array([True, True, False, True])
    kept = cap_requests(want, np.array([0.1, 0.9, 5.0, 0.5]), 2)
    assert kept.tolist() == [False, True, False, True]
    assert cap_requests(want, np.zeros(4), 5).tolist() == want.tolist()


def test_token_bucket_bounds_each_device_rate() -> None:
    bucket = TokenBucket(rate=0.25, burst=2.0, initial=1.0)
    bucket.reset(3)
    devices = np.arange(3)
    total = np.zeros(3, int)
    for _ in range(100):
        total += bucket.filter(devices, np.ones(3, bool), np.zeros(3))
    assert np.all(total <= 1 + 0.25 * 100)
    assert np.all(total >= 0.25 * 100)
    with pytest.raises(ConfigError, match="twice"):
        bucket.filter(np.array([0, 0]), np.ones(2, bool), np.zeros(2))
    with pytest.raises(ConfigError):
        TokenBucket(rate=0.0)
    with pytest.raises(ConfigError):
        TokenBucket(rate=0.5, burst=0.5)


def test_global_cap_hits_the_rate_exactly_over_time() -> None:
    cap = GlobalRateCap(0.3)
    cap.reset(7)
    admitted = sum(int(cap.filter(np.arange(7), np.ones(7, bool), np.arange(7.0)).sum()) for _ in range(100))
    assert admitted == 210  # 0.3 * 7 * 100, fractions carried over
    first = GlobalRateCap(0.5)
    first.reset(4)
    assert first.filter(np.arange(4), np.ones(4, bool), np.array([1.0, 4.0, 3.0, 2.0])).tolist() == [
        False, True, True, False]
    with pytest.raises(ConfigError):
        GlobalRateCap(1.5)


def test_budget_chain_applies_all() -> None:
    chain = BudgetChain(GlobalRateCap(1.0), TokenBucket(0.5, burst=1.0, initial=1.0))
    chain.reset(2)
    first = chain.filter(np.arange(2), np.ones(2, bool), np.zeros(2))
    second = chain.filter(np.arange(2), np.ones(2, bool), np.zeros(2))
    assert first.tolist() == [True, True] and second.tolist() == [False, False]
    with pytest.raises(ConfigError, match="not a Budget"):
        BudgetChain(object())
