import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tandem.core.errors import ConfigError
from tandem.recipes.text.bench import run_text_bench
from tandem.recipes.text.cli import text_app
from tandem.recipes.text.data import TextBenchConfig, assign_roles
from tandem.recipes.text.report import acceptance, curve_table, headline_table, plot_curves
from tandem.recipes.text.synthetic import synthetic_text_data
from tandem.report.results import read_result, write_result

TINY = dict(n_labeled=300, n_log=300, n_user_rows=800, n_buckets=2**11, n_users=20, fed_rounds=2, fed_clients=5,
            head_epochs=10, small_epochs=3, distill_epochs=3, random_repeats=3, latency_repeats=1, reference=True,
            rates=(0.0, 0.3, 0.6, 1.0), budgets=(100,))


def test_assign_roles_is_a_disjoint_seeded_split() -> None:
    roles = assign_roles(1000, n_labeled=100, n_log=50, n_user_rows=200, seed=3)
    together = np.concatenate([roles.labeled, roles.log, roles.users, roles.pool])
    np.testing.assert_array_equal(np.sort(together), np.arange(1000))
    assert roles.sizes() == {"labeled": 100, "log": 50, "users": 200, "pool": 650}
    assert assign_roles(1000, n_labeled=100, n_log=50, n_user_rows=200, n_pool=10, seed=3).pool.size == 10
    with pytest.raises(ConfigError, match="pool"):
        assign_roles(100, n_labeled=50, n_log=25, n_user_rows=25)


@pytest.mark.parametrize("bad", [{"n_labeled": 0}, {"rates": (0.1, 1.0)}, {"rates": (0.0, 0.5, 0.4, 1.0)},
                                 {"headline_rate": 1.0}, {"budgets": (0,)}, {"budgets": (10**6,)}])
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ConfigError):
        TextBenchConfig(**bad)


def test_bench_end_to_end_on_synthetic_reviews(tmp_path: Path) -> None:
    config = TextBenchConfig(**TINY)
    outcome = run_text_bench(config, data=synthetic_text_data(config, n_train=2000, n_dev=300))
    h = outcome.headline
    assert h["large_accuracy"] > h["device_accuracy"]  # the "pretrained" encoder knows the rare words
    assert h["confidence_accuracy"] > h["random_accuracy"] - 0.02
    assert h["oracle_accuracy"] >= h["confidence_accuracy"]
    assert 0 < h["e2e_p50_ms"] < 50 and set(acceptance(h)) and len(outcome.curves["random"]) == 4
    stages = {s.stage: s for s in outcome.result.stages}
    assert stages["delivery: int8 -> ONNX Runtime"].bytes_down > 0
    assert stages["small: federated fine-tune (fedavg)"].bytes_up > 0
    assert stages["cascade: large only"].cloud_requests == 300
    routed = stages["cascade: confidence @30%"]
    assert routed.cloud_requests == 90 and 0 < routed.bytes_up < stages["cascade: large only"].bytes_up
    assert 0 < routed.cloud_flops < stages["cascade: large only"].cloud_flops
    path = write_result(outcome.result, tmp_path / "r.json")
    again = read_result(path)
    names = {c["name"] for c in again.curves}
    assert again.kind == "text-cascade" and {"confidence", "learned", "random", "oracle"} <= names
    budget = [c for c in again.curves if c["x"] == "labeled_rows"]
    assert {c["name"] for c in budget} == {"large", "small: labels only", "small: distilled"}
    assert "distill_gain@100" in h
    assert again.config["roles"]["labeled"] == 300 and len(again.rounds) == 3
    assert headline_table(h).row_count > 5 and curve_table(outcome.curves).row_count == 4
    assert plot_curves(outcome.curves, 0.6, 0.9, tmp_path / "p.png").stat().st_size > 1000


def test_cli_reports_missing_data_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(text_app, ["bench", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path),
                                           "--no-progress"])
    assert result.exit_code == 2
    assert "nowhere" in result.output or "nowhere" in (result.stderr if result.stderr_bytes else "")


def test_cli_rejects_bad_rates(tmp_path: Path) -> None:
    result = CliRunner().invoke(text_app, ["bench", "--rates", "0,x,1", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code != 0 and "rates" in result.output


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(text_app, ["--help"])
    assert result.exit_code == 0 and "bench" in result.output and "embed" in result.output


def test_cli_synthetic_run_needs_no_data_and_writes_result_and_plot(tmp_path: Path) -> None:
    result = CliRunner().invoke(text_app, ["bench", "--synthetic", "--json", "--no-reference", "--fed-rounds", "2",
                                           "--rates", "0,0.3,1", "--out", str(tmp_path)])
    summary = json.loads(result.output[result.output.index("{"):])
    # a run whose acceptance checks fail says so by its exit code (1), after writing its result
    assert result.exit_code == (0 if all(summary["acceptance"].values()) else 1), result.output
    assert (tmp_path / "text-cascade.json").exists() and (tmp_path / "text-cascade.png").exists()
    assert summary["headline"]["large_accuracy"] > summary["headline"]["device_accuracy"]
    assert len(summary["acceptance"]) == 4
