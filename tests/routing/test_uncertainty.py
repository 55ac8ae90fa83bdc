import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing.stream import StreamRun
from tandem.routing.uncertainty import PairedBootstrap, step_ndcg


def _run(name: str, ranks: np.ndarray, requested: np.ndarray | None = None) -> StreamRun:
    asked = np.zeros(ranks.size, bool) if requested is None else requested
    return StreamRun(name, ranks.size, int(asked.sum()), {}, ranks=ranks.astype(np.int32), requested=asked)


def _fleet(n_users: int, steps: int = 6, seed: int = 0) -> tuple[np.ndarray, StreamRun, StreamRun, StreamRun]:
    """never ranks the true item badly, always well, the policy in between: better on a random half of steps."""
    rng = np.random.default_rng(seed)
    step_user = np.repeat(np.arange(n_users), steps)
    never = rng.integers(5, 40, step_user.size)
    always = np.maximum(never - 5, 0)
    policy = np.where(rng.random(step_user.size) < 0.5, always, never)
    asked = rng.random(step_user.size) < 0.2
    return step_user, _run("never", never), _run("always", always, np.ones(step_user.size, bool)), \
        _run("policy", policy, asked)


def test_step_ndcg_by_hand() -> None:
    assert step_ndcg(np.array([0, 1, 9, 10]), 10) == pytest.approx([1.0, 1 / np.log2(3), 1 / np.log2(11), 0.0])


def test_share_interval_holds_the_estimate_and_narrows_with_more_users() -> None:
    widths = []
    for n_users in (40, 4000):
        step_user, never, always, policy = _fleet(n_users)
        boot = PairedBootstrap(step_user, 10, n_boot=400, seed=1)
        point = (step_ndcg(policy.ranks, 10).mean() - step_ndcg(never.ranks, 10).mean()) / \
            (step_ndcg(always.ranks, 10).mean() - step_ndcg(never.ranks, 10).mean())
        lo, hi = boot.interval(boot.share(policy, never, always))
        assert lo < point < hi
        widths.append(hi - lo)
        assert boot.interval(boot.share(always, never, always)) == pytest.approx((1.0, 1.0))
    assert widths[1] < widths[0] / 4  # 100x the users: about a tenth of the width


def test_gain_ratio_is_paired() -> None:
    step_user, never, _always, policy = _fleet(300)
    boot = PairedBootstrap(step_user, 10, n_boot=200)
    # the same run against itself is exactly 1 on every resample, however noisy the run
    assert np.allclose(boot.gain_ratio(policy, policy, never), 1.0)
    assert boot.rate(policy) == pytest.approx(np.full(200, policy.requested.mean()), abs=0.05)


def test_bad_input_is_named() -> None:
    step_user, never, _always, _policy = _fleet(10)
    boot = PairedBootstrap(step_user, 10, n_boot=50)
    with pytest.raises(ConfigError, match="keep_steps"):
        boot.quality(StreamRun("bare", step_user.size, 0, {}))
    with pytest.raises(ConfigError, match="steps"):
        boot.quality(_run("short", never.ranks[:-1]))
    with pytest.raises(ConfigError, match="n_boot"):
        PairedBootstrap(step_user, 10, n_boot=1)
    with pytest.raises(ConfigError, match="step_user"):
        PairedBootstrap(np.array([], dtype=np.int64), 10)
    assert np.isnan(boot.interval(np.array([np.nan, np.inf]))[0])
