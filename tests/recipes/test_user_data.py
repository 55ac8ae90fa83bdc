"""Acceptance of "your own data everywhere": every bench and ``fl run`` on a user's file in each supported format
(written here, tiny), and on a malformed file (exit 2, one clear line naming file, line and column, no traceback,
nothing written)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tandem.cli import app
from tandem.report.results import read_result

N_USERS = 30


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _log() -> list[tuple[str, str, int, int]]:
    """(user, item, rating, timestamp) rows, shuffled: users follow one of three item groups."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(N_USERS):
        for t in range(int(rng.integers(6, 10))):
            item = (u % 3) * 8 + int(rng.integers(0, 8))
            rows.append((f"u{u}", f"item{item}", int(rng.integers(1, 6)), 1000 + 10 * t + u))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same interaction log in every supported format (S3-Rec: the same sequences, integer ids)."""
    folder = tmp_path_factory.mktemp("logs")
    rows = _log()
    files = {"csv": folder / "log.csv", "tsv": folder / "log.tsv", "recbole": folder / "log.inter",
             "s3rec": folder / "log.txt"}
    files["csv"].write_text("user,movie,stars,when\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    files["tsv"].write_text("user_id\titem_id\ttimestamp\n" + "".join(f"{u}\t{i}\t{t}\n" for u, i, _, t in rows))
    files["recbole"].write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    by_user: dict[int, list[tuple[int, int]]] = {}
    for u, i, _, t in rows:
        by_user.setdefault(int(u[1:]) + 1, []).append((t, int(i[4:]) + 1))
    files["s3rec"].write_text("".join(f"{u} " + " ".join(str(i) for _, i in sorted(seq)) + "\n"
                                      for u, seq in sorted(by_user.items())))
    return files


#: Column options per format (the CSV names its columns its own way).
COLUMNS = {"csv": ["--user-column", "user", "--item-column", "movie", "--time-column", "when",
                   "--rating-column", "stars", "--min-rating", "1"],
           "tsv": [], "recbole": [], "s3rec": []}


def _ok(result: object) -> None:
    assert getattr(result, "exit_code", None) == 0, getattr(result, "output", "")


def _nothing_written(folder: Path) -> None:
    """No file under ``folder`` (the commands may create the empty output folder when they check it is writable)."""
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]


def _clear_error(result: object, *needles: str) -> None:
    """Exit 2, no traceback, and the message names what it should."""
    output = getattr(result, "output", "")
    assert getattr(result, "exit_code", None) == 2, output
    assert "Traceback" not in output and isinstance(getattr(result, "exception", None), SystemExit | None)
    for needle in needles:
        assert needle in output, output


@pytest.mark.parametrize("fmt", ["csv", "tsv", "recbole", "s3rec"])
def test_delivery_bench_on_a_user_log(fmt: str, logs: dict[str, Path], tmp_path: Path,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path / "delivery.json"
    result = CliRunner().invoke(app, ["delivery", "bench", "--dataset", str(logs[fmt]), *COLUMNS[fmt], "--quick",
                                      "--no-progress", "--out", str(out), "--no-onnx", "--no-gru4rec", "--epochs", "1",
                                      "--max-len", "8", "--finetune-users", "3", "--latency-repeats", "2",
                                      "--logit-kd-alpha", "0", "--personal-user-dim", "8"])
    _ok(result)
    saved = read_result(out)
    assert saved.config["data"]["n_users"] == N_USERS and saved.config["data"]["n_items"] == 24
    assert saved.config["dataset"] == str(logs[fmt]) and any(s.stage.startswith("device:") for s in saved.stages)


@pytest.fixture(scope="module")
def route_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for every format: the four files hold the same sequences, so both models train once."""
    return tmp_path_factory.mktemp("route-cache")


ROUTE_TINY = ["--no-split", "--no-progress", "--epochs", "1", "--rates", "0.3", "--policies", "random,confidence",
              "--log-rates", "0.5", "--value-rounds", "1", "--value-members", "1", "--quality-target", "",
              "--bootstrap", "10", "--anticipate", "0", "--max-len", "8", "--calibrate-iters", "2",
              "--fusion-age-fit", "off", "--fractions", "0.5,0.25,0.25"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "recbole", "s3rec"])
def test_route_bench_on_a_user_log(fmt: str, logs: dict[str, Path], tmp_path: Path, route_cache: Path) -> None:
    result = CliRunner().invoke(app, ["route", "bench", "--dataset", str(logs[fmt]), *COLUMNS[fmt], "--out",
                                      str(tmp_path), "--cache-dir", str(route_cache), *ROUTE_TINY])
    _ok(result)
    saved = read_result(tmp_path / "routing-log.json")
    assert saved.kind == "routing" and {s.stage.split("@")[0] for s in saved.stages} >= {"random", "confidence"}


def _reviews(path: Path, sep: str, n: int = 240) -> Path:
    """Labelled reviews: one sentiment word among filler words; labels as text."""
    rng = np.random.default_rng(1)
    pos, neg = ["great", "lovely", "superb", "fun", "moving"], ["awful", "dull", "boring", "bad", "weak"]
    filler = ["the", "movie", "plot", "was", "and", "quite", "acting"]
    lines = [f"review{sep}sentiment"]
    for _ in range(n):
        y = int(rng.integers(0, 2))
        words = [*rng.choice(filler, 4), str(rng.choice(pos if y else neg))]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}{sep}{'positive' if y else 'negative'}")
    path.write_text("\n".join(lines) + "\n")
    return path


TEXT_TINY = ["--encoder", "hashed", "--text-column", "review", "--label-column", "sentiment", "--no-progress",
             "--n-buckets", "512", "--fed-rounds", "2", "--small-epochs", "1", "--small-lr", "0.0001",
             "--distill-epochs", "1", "--no-reference", "--latency-repeats", "1", "--random-repeats", "2",
             "--rates", "0,0.5,1", "--budgets", "", "--json"]


@pytest.mark.parametrize(("name", "sep"), [("reviews.csv", ","), ("reviews.tsv", "\t")])
def test_text_bench_on_a_user_file(name: str, sep: str, tmp_path: Path) -> None:
    data = _reviews(tmp_path / name, sep)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["text", "bench", "--dataset", str(data), "--out", str(out), *TEXT_TINY])
    # the run completes; its acceptance checks are about SST-2 quality (a failed one exits 1), not about the file
    assert result.exit_code in (0, 1) and isinstance(result.exception, SystemExit | None), result.output
    assert "Traceback" not in result.output
    saved = read_result(out / "text-cascade.json")
    assert saved.config["n_dev"] == 48 and saved.config["roles"]["labeled"] == int(192 * 0.12)


def _table(path: Path, sep: str = ",", n: int = 90) -> Path:
    rng = np.random.default_rng(2)
    lines = [sep.join(["x1", "x2", "colour", "species"])]
    for i in range(n):
        y = int(rng.integers(0, 3))
        lines.append(sep.join([f"{y + rng.normal(0, 0.3):.3f}", f"{rng.normal():.3f}", ["red", "blue"][i % 2],
                               ["setosa", "versicolor", "virginica"][y]]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _fl_config(tmp_path: Path, dataset: str, extra: str = "") -> Path:
    path = tmp_path / "fl.yaml"
    path.write_text(f"dataset:\n  path: {dataset}\n  label: species\nclients: 6\nper_round: 3\nrounds: 3\n"
                    f"local: {{lr: 0.1, epochs: 2}}\noutput: {tmp_path / 'out' / 'fl.json'}\n{extra}")
    return path


@pytest.mark.parametrize(("name", "sep"), [("iris.csv", ","), ("iris.tsv", "\t")])
def test_fl_run_on_a_user_table(name: str, sep: str, tmp_path: Path) -> None:
    table = _table(tmp_path / name, sep)
    result = CliRunner().invoke(app, ["fl", "run", str(_fl_config(tmp_path, str(table))), "--json"])
    _ok(result)
    saved = (tmp_path / "out" / "fl.json").read_text()
    assert '"accuracy"' in saved and str(table) in saved


def test_fl_run_dataset_option_and_parquet(tmp_path: Path) -> None:
    table = _table(tmp_path / "iris.csv")
    config = _fl_config(tmp_path, str(table))
    parquet = tmp_path / "iris.parquet"
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        parquet.write_bytes(b"PAR1")
        result = CliRunner().invoke(app, ["fl", "run", str(config), "--dataset", str(parquet)])
        _clear_error(result, "pip install pyarrow")
        _nothing_written(tmp_path / "out")
        return
    pq.write_table(pacsv.read_csv(table), parquet)
    result = CliRunner().invoke(app, ["fl", "run", str(config), "--dataset", str(parquet), "--json"])
    _ok(result)


def test_fl_run_with_a_user_model_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self, d, k):\n        super().__init__()\n"
        "        self.a, self.b = nn.Linear(d, 8), nn.Linear(8, k)\n\n"
        "    def forward(self, x):\n        return self.b(torch.tanh(self.a(x)))\n\n\n"
        "def build(n_features, n_classes):\n    return Net(n_features, n_classes)\n\n\n"
        "def not_a_model(n_features, n_classes):\n    return [n_features, n_classes]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    table = _table(tmp_path / "iris.csv")
    config = _fl_config(tmp_path, str(table), "model: {factory: 'my_models:build'}\n")
    _ok(CliRunner().invoke(app, ["fl", "run", str(config), "--json"]))
    shutil.rmtree(tmp_path / "out")
    for spec, needle in [("my_models:not_a_model", "returned a list, not a torch.nn.Module"),
                         ("no_such_module:build", "cannot import 'no_such_module'"),
                         ("my_models:missing", "has no 'missing'"), ("my_models", "'package.module:function'")]:
        result = CliRunner().invoke(app, ["fl", "run", str(config), "--model-factory", spec])
        _clear_error(result, "factory", needle)
        _nothing_written(tmp_path / "out")


# --- malformed files: exit 2, one clear line naming file, line and column, nothing written --------------------------

def test_benches_reject_a_malformed_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\n1,10,5\n1,11,soon\n")
    out = tmp_path / "out"
    delivery = CliRunner().invoke(app, ["delivery", "bench", "--dataset", str(bad), "--quick", "--no-progress",
                                        "--out", str(out / "d.json")])
    _clear_error(delivery, "bad.csv:3: column 'timestamp' (3): 'soon' is not a number")
    route = CliRunner().invoke(app, ["route", "bench", "--dataset", str(bad), "--out", str(out), *ROUTE_TINY])
    _clear_error(route, "bad.csv:3: column 'timestamp' (3)")
    inter = tmp_path / "bad.inter"
    inter.write_text("user_id:token\titem_id:token\n1\t2\n1\n")
    _clear_error(CliRunner().invoke(app, ["route", "bench", "--dataset", str(inter), "--out", str(out),
                                          *ROUTE_TINY]), "bad.inter:3: expected 2 tab-separated fields")
    s3rec = tmp_path / "bad.txt"
    s3rec.write_text("1 2 3\n2 3 x4\n")
    _clear_error(CliRunner().invoke(app, ["delivery", "bench", "--dataset", str(s3rec), "--quick", "--no-progress",
                                          "--out", str(out / "d.json")]), "bad.txt:2: column 3 (item 2): 'x4'")
    missing = CliRunner().invoke(app, ["delivery", "bench", "--dataset", str(tmp_path / "log.csv"),
                                       "--user-column", "uid", "--out", str(out / "d.json")])
    _clear_error(missing, "--dataset", "neither a built-in data set")
    columns = tmp_path / "cols.csv"
    columns.write_text("uid,item_id\n1,2\n")
    _clear_error(CliRunner().invoke(app, ["delivery", "bench", "--dataset", str(columns), "--quick",
                                          "--no-progress", "--out", str(out / "d.json")]),
                 "cols.csv:1: no column 'user_id' for the users")
    _nothing_written(out)


def test_file_options_without_a_file_are_refused(tmp_path: Path) -> None:
    for args, needle in [(["delivery", "bench", "--user-column", "uid"], "--user-column: only for a dataset file"),
                         (["route", "bench", "--dataset", "synthetic", "--min-rating", "3", "--out", str(tmp_path)],
                          "--min-rating: only for a dataset file"),
                         (["text", "bench", "--label-column", "y", "--out", str(tmp_path)], "built-in 'sst2'"),
                         (["fl", "run", str(_fl_config(tmp_path, str(_table(tmp_path / "t.csv")))),
                           "--dataset-separator", ";;"], "one character")]:
        _clear_error(CliRunner().invoke(app, args), needle)
    _nothing_written(tmp_path / "out")


def test_text_bench_and_fl_run_reject_malformed_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    reviews = tmp_path / "reviews.csv"
    reviews.write_text('text,label\ngood film,1\n"unclosed quote,0\n')
    text = CliRunner().invoke(app, ["text", "bench", "--dataset", str(reviews), "--encoder", "hashed", "--out",
                                    str(out), "--no-progress"])
    _clear_error(text, "reviews.csv:", "expected 2")
    three = _reviews(tmp_path / "three.csv", ",").read_text() + "meh film,neutral\n"
    (tmp_path / "three.csv").write_text(three)
    text = CliRunner().invoke(app, ["text", "bench", "--dataset", str(tmp_path / "three.csv"), "--text-column",
                                    "review", "--label-column", "sentiment", "--encoder", "hashed", "--out", str(out)])
    _clear_error(text, "two classes", "neutral")
    table = tmp_path / "table.csv"
    table.write_text("x1,species\n1.5,a\n2.5,b\n3,a\n4x,b\n")
    fl = CliRunner().invoke(app, ["fl", "run", str(_fl_config(tmp_path, str(table)))])
    _clear_error(fl, "table.csv:5: column 'x1' (1): '4x' is not a number")
    fl = CliRunner().invoke(app, ["fl", "run", str(_fl_config(tmp_path, str(tmp_path / "nothere.csv")))])
    _clear_error(fl, "dataset.path", "nothere.csv")
    _nothing_written(out)
