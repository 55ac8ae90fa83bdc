from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError, DataError, DataNotFoundError
from tandem.data.uci import TabularEncoder, load_adult, load_bank

from .conftest import real_folder

ADULT_ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, {c}, {y}"
)


def test_real_adult(data_root: Path) -> None:
    folder = real_folder(data_root, "uci-adult")
    train, test = load_adult(folder, "train"), load_adult(folder, "test")
    assert (len(train), int(train.y.sum())) == (32_561, 7_841)
    assert (len(test), int(test.y.sum())) == (16_281, 3_846)
    with_missing = np.zeros(len(train), bool)
    for c in train.categorical:
        with_missing |= np.array([v is None for v in train.columns[c]])
    assert with_missing.sum() == 2_399
    enc = TabularEncoder().fit(train)
    Xtr, Xte = enc.transform(train), enc.transform(test)
    assert Xtr.X.shape[1] == Xte.X.shape[1] == len(enc.feature_names_)
    assert Xtr.X.dtype == np.float32 and np.allclose(Xtr.X[:, :6].mean(0), 0, atol=1e-5)


def test_real_bank(data_root: Path) -> None:
    folder = real_folder(data_root, "uci-bank-marketing")
    full = load_bank(folder, "full")
    assert (len(full), int(full.y.sum())) == (45_211, 5_289) and len(full.columns) == 16
    assert "balance" in full.numeric and "job" in full.categorical
    assert (len(load_bank(folder, "additional")), len(load_bank(folder, "small"))) == (4_119, 4_521)


def test_tiny_adult(tmp_path: Path) -> None:
    (tmp_path / "adult.data").write_text(
        "\n".join([ADULT_ROW.format(c="United-States", y="<=50K"), ADULT_ROW.format(c="?", y=">50K")]) + "\n\n"
    )
    (tmp_path / "adult.test").write_text(
        "|1x3 Cross validator\n" + ADULT_ROW.format(c="Peru", y=">50K.") + "\n\n"
    )
    train, test = load_adult(tmp_path, "train"), load_adult(tmp_path, "test")
    assert train.y.tolist() == [0, 1] and test.y.tolist() == [1]
    assert train.columns["native-country"].tolist() == ["United-States", None]
    assert train.columns["age"].dtype == np.float64
    ds = TabularEncoder().fit(train).transform(test)
    country = [i for i, n in enumerate(ds.feature_names) if n.startswith("native-country=")]
    assert ds.X[0, country].tolist() == [0.0]  # unseen "Peru" -> all-zero group


def test_encoder_semantics(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text(
        '"age";"job";"duration";"y"\n30;"admin.";10;"no"\n50;"unknown";20;"yes"\n40;"admin.";30;"no"\n'
    )
    ds = load_bank(tmp_path, "small")
    assert ds.numeric == ("age", "duration") and ds.categorical == ("job",) and ds.y.tolist() == [0, 1, 0]
    enc = TabularEncoder(drop=("duration",)).fit(ds)
    out = enc.transform(ds)
    assert out.feature_names == ("age", "job=admin.", "job=unknown")
    assert np.allclose(out.X[:, 0], [-1.2247449, 1.2247449, 0.0])
    assert out.X[:, 1:].tolist() == [[1, 0], [0, 1], [1, 0]]
    assert np.array_equal(ds.to_numpy().X[:, :2], TabularEncoder().fit(ds).transform(ds).X[:, :2])
    with pytest.raises(ConfigError, match="before fit"):
        TabularEncoder().transform(ds)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('"age";"y"\n30;"no"\n31;"maybe"\n', 3),
        ('"age";"y"\n30;"no"\nabc;"no"\n', 3),
        ('"age";"job";"y"\n30;"a";"no"\n"x";"a";"no"\n', 3),
        ('"age";"x"\n30;"no"\n', 1),
    ],
)
def test_bank_malformed(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "bank-full.csv").write_text(text)
    with pytest.raises(DataError, match=rf"bank-full\.csv:{line}: "):
        load_bank(tmp_path)


def test_adult_malformed(tmp_path: Path) -> None:
    rows = [ADULT_ROW.format(c="Peru", y="<=50K"), "39, State-gov, 77516", ""]
    (tmp_path / "adult.data").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"adult\.data:2: "):
        load_adult(tmp_path)
    (tmp_path / "adult.data").write_text(ADULT_ROW.format(c="Peru", y="<=50K").replace("77516", "n/a") + "\n")
    with pytest.raises(DataError, match=r"adult\.data:1: column 'fnlwgt'"):
        load_adult(tmp_path)


def test_bad_arguments_and_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_bank(tmp_path, "huge")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        load_adult(tmp_path, "dev")  # type: ignore[arg-type]
    with pytest.raises(DataNotFoundError, match=r"adult\.test"):
        load_adult(tmp_path, "test")
