import json

import pytest
from typer.testing import CliRunner

from tandem.core.errors import ConfigError
from tandem.recipes.delivery.bench import BenchConfig, bench_table, run_bench
from tandem.recipes.delivery.cli import delivery_app
from tandem.report.results import read_result

TINY = {"epochs": 1, "max_len": 10, "onnx": False, "gru4rec": False, "finetune_users": 5, "personal_epochs": 1,
        "latency_repeats": 5, "synthetic": {"n_users": 120, "n_items": 60, "n_clusters": 4, "seq_len": 12,
                                            "min_seq_len": 4, "follow_prob": 0.5}}


LOG: list[str] = []
PARTIAL: list = []


@pytest.fixture(scope="module")
def tiny_result():
    return run_bench(BenchConfig(**TINY), progress=False, log=LOG.append, on_stage=PARTIAL.append)


def test_partial_results_follow_each_stage(tiny_result):
    # large, small alone/distilled/logit KD, compress, personal, delta
    assert [len(p.stages) for p in PARTIAL] == [1, 4, 6, 9, 10]
    assert all(p.config["partial"] for p in PARTIAL) and "partial" not in tiny_result.config
    assert PARTIAL[-1].stages[-1].stage == tiny_result.stages[-1].stage


def test_the_log_follows_every_training_epoch_and_stage(tiny_result):
    epochs = [line for line in LOG if ": epoch " in line]
    assert any("cloud: SASRec large: epoch 1 " in line and "valid ndcg@10" in line for line in epochs)
    assert sum("hr@10" in line and ": epoch " not in line for line in LOG) == len(tiny_result.stages)


def test_every_method_is_measured_on_quality_and_bytes(tiny_result):
    names = [s.stage for s in tiny_result.stages]
    assert names[0] == "cloud: SASRec large" and len(names) == 10
    assert "teacher's items transferred" in tiny_result.stages[2].notes
    assert "logit KD alpha=0.5" in tiny_result.stages[3].notes
    for stage in tiny_result.stages:
        assert 0 <= stage.metrics["ndcg@10"] <= stage.metrics["hr@10"] <= 1
        assert stage.metrics["params"] > 0
    by_name = {s.stage: s for s in tiny_result.stages}
    dense = by_name["device: SASRec small distilled"].metrics["bytes_per_device"]
    assert by_name["device: SASRec small int8"].metrics["bytes_per_device"] < 0.6 * dense
    mask = by_name["device: mask personalization (DIET-style)"].metrics
    assert mask["bytes_per_device"] < 0.1 * dense and mask["device_parity_max_abs"] < 1e-4
    assert by_name["device: generated parameters (DUET-style)"].metrics["device_parity_max_abs"] < 0.05
    assert by_name["device: delta update v1 -> v2"].metrics["new_version"] == 2
    assert tiny_result.config["data"]["n_users"] == 120
    assert bench_table(tiny_result).row_count == len(names)


def test_cli_writes_a_readable_result(tmp_path, monkeypatch):
    import tandem.recipes.delivery.cli as cli

    monkeypatch.setattr(cli, "QUICK", {**TINY, "synthetic": TINY["synthetic"]})
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(delivery_app, ["bench", "--quick", "--no-progress", "--out", str(out), "--json",
                                            "--no-onnx", "--no-gru4rec", "--distill-top-k", "5"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["kind"] == "delivery-bench"
    assert read_result(out).stages[0].stage == "cloud: SASRec large"
    assert json.loads(res.output)["config"]["distill_top_k"] == 5


def test_bad_configuration_is_reported():
    with pytest.raises(ConfigError, match="dataset"):
        BenchConfig(dataset="netflix")
    with pytest.raises(ConfigError, match="epochs"):
        BenchConfig(epochs=0)
    with pytest.raises(ConfigError, match="distill_top_k"):
        BenchConfig(distill_top_k=-1)
    with pytest.raises(ConfigError, match="max_train_minutes"):
        BenchConfig(max_train_minutes=0)
    with pytest.raises(ConfigError, match="logit_kd_alpha"):
        BenchConfig(logit_kd_alpha=1.5)
    res = CliRunner().invoke(delivery_app, ["bench", "--dataset", "netflix", "--no-progress"])
    assert res.exit_code == 2 and "dataset" in res.output


def test_a_training_budget_is_part_of_the_checkpoint_key(tmp_path):
    from tandem.models.seqrec import build_seqrec
    from tandem.models.seqrec_data import leave_one_out_split
    from tandem.models.seqrec_training import FitResult
    from tandem.recipes.delivery.bench import BenchContext, load_bench_data

    calls = []

    def fit() -> FitResult:
        calls.append(1)
        return FitResult(epochs_run=1)

    for minutes in (None, None, 5.0, 5.0):
        config = BenchConfig(**{**TINY, "cache_dir": str(tmp_path), "max_train_minutes": minutes})
        data = load_bench_data(config)
        ctx = BenchContext(config, data, leave_one_out_split(data, config.max_len), progress=False)
        ctx.cached_fit("m", build_seqrec("sasrec", data.n_items, config.max_len, "small"), fit, epochs=1)
    assert len(calls) == 2  # one training per distinct budget; the repeats load the checkpoint
