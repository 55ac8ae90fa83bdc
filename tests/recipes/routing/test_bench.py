import json

import numpy as np
import pytest

from tandem.recipes.routing.bench import run_bench
from tandem.recipes.routing.prepare import RouteBenchConfig
from tandem.recipes.routing.report import curve_table, plot_curves, summary_tables, to_result
from tandem.report.results import read_result, write_result


@pytest.mark.slow
def test_bench_end_to_end_on_a_tiny_synthetic_fleet(tmp_path) -> None:
    config = RouteBenchConfig(dataset="synthetic", synthetic_users=150, epochs=1, rates=(0.2,),
                              policies=("random", "learned"), log_rates=(0.2, 0.5), cache_dir=str(tmp_path / "c"),
                              value_rounds=1)
    outcome = run_bench(config)
    assert outcome.never.request_rate == 0.0 and outcome.always.request_rate == 1.0
    assert {p.policy for p in outcome.points} == {"random", "learned"}
    for p in outcome.points:
        assert 0.1 < p.run.request_rate < 0.3  # calibrated on log users, measured on eval users
        low, high = p.recovered_ci  # a bootstrap over eval users
        assert np.isfinite(low) and low < high
    result = to_result(outcome)
    path = write_result(result, tmp_path / "r.json")
    again = read_result(path)
    assert again.kind == "routing" and len(again.stages) == 4 and len(again.curves) == 3
    assert json.loads(path.read_text())["config"]["headline"]
    learned = next(st for st in again.stages if st.stage == "learned@20%")
    assert learned.extra["recovered_ci95_low"] < learned.extra["recovered_ci95_high"]
    assert plot_curves([outcome], tmp_path / "p.png").stat().st_size > 1000
    assert curve_table(outcome).row_count == 4 and len(summary_tables(outcome)) == 4
    assert [q.target_share for q in outcome.quality] == [0.8, 0.85, 0.9]  # the default targets, under a 20% cap
    assert all(q.calibration_rate <= 0.2 + 0.005 for q in outcome.quality)
    assert json.loads(path.read_text())["config"]["quality_target"][0]["cap"] == 0.2
    cached = run_bench(config)  # models come from the cache the first run wrote
    assert cached.setup_info["large"]["cached"] and cached.never.metrics == outcome.never.metrics
