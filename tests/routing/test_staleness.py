import itertools

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import get_combiner, get_policy
from tandem.routing.staleness import age_table, fit_age_weights


def _periodic_from_table(table, offsets: np.ndarray, period: int) -> float:
    total = 0.0
    for lo, hi in itertools.pairwise(offsets):
        for t in range(lo, hi):
            total += table.ndcg[t, (t - lo) % period]
    return total / offsets[-1]


def test_age_table_reproduces_the_simulator(tiny_sim) -> None:
    table = age_table(tiny_sim, 4)
    s = tiny_sim.streams
    assert table.ndcg.shape == (s.n_steps, 5) and table.none.shape == (s.n_steps,)
    never, always = tiny_sim.run(get_policy("never")), tiny_sim.run(get_policy("always"))
    assert table.none.mean() == pytest.approx(never.metrics["ndcg@10"])
    assert table.ndcg[:, 0].mean() == pytest.approx(always.metrics["ndcg@10"])
    for period in (2, 3):  # any schedule is a sum of table entries
        run = tiny_sim.run(get_policy("periodic", period=period))
        assert _periodic_from_table(table, s.step_offsets, period) == pytest.approx(run.metrics["ndcg@10"])
    k_of = np.arange(s.n_steps) - s.step_offsets[s.step_user]
    assert np.isnan(table.ndcg[k_of < 3, 3]).all() and np.isfinite(table.ndcg[k_of >= 3, 3]).all()
    with pytest.raises(ConfigError):
        age_table(tiny_sim, -1)


def test_age_table_with_an_age_aware_combiner_matches_the_simulator(tiny_sim) -> None:
    aged = tiny_sim.with_combiner(get_combiner("fusion", age_weights=[1.0, 0.5, 0.0]))
    table = age_table(aged, 3)
    run = aged.run(get_policy("periodic", period=3))
    assert _periodic_from_table(table, aged.streams.step_offsets, 3) == pytest.approx(run.metrics["ndcg@10"])
    small = age_table(tiny_sim, 3, get_combiner("small"))
    assert np.allclose(table.ndcg[:, 2][np.isfinite(table.ndcg[:, 2])], small.ndcg[:, 2][np.isfinite(small.ndcg[:, 2])])


def test_fit_age_weights_picks_the_best_weight_per_age(tiny_sim) -> None:
    grid = [0.0, 0.5, 1.0]
    weights, means = fit_age_weights(tiny_sim, 3, grid, monotone=False)
    assert means.shape == (3, 4) and len(weights) == 4
    for a, w in enumerate(weights):
        assert w == grid[int(np.nanargmax(means[:, a]))]
    mono, _ = fit_age_weights(tiny_sim, 3, grid)
    assert all(x >= y for x, y in itertools.pairwise(mono)) and mono[0] == weights[0]
    kept, _ = fit_age_weights(tiny_sim, 3, grid, fresh_weight=0.25)
    assert kept[0] == 0.25 and all(w <= 0.25 for w in kept[1:])
    with pytest.raises(ConfigError):
        fit_age_weights(tiny_sim, 2, [0.5, 1.5])
    with pytest.raises(ConfigError):
        fit_age_weights(tiny_sim, 2, fresh_weight=2.0)
