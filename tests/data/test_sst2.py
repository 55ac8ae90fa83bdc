from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError, DataError, DataNotFoundError
from tandem.data.sst2 import load_sst2

from .conftest import real_folder


def test_real_counts(data_root: Path) -> None:
    folder = real_folder(data_root, "sst2")
    train, dev, test = (load_sst2(folder, split) for split in ("train", "dev", "test"))
    assert len(train) == 67_349 and np.bincount(train.labels).tolist() == [29_780, 37_569]
    assert len(dev) == 872 and np.bincount(dev.labels).tolist() == [428, 444]
    assert len(test) == 1_821 and test.labels is None
    assert not any(s != s.strip() for s in dev.sentences)


def _write(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "train.tsv").write_text("sentence\tlabel\ngood fun \t1\nbad , dull \t0\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nit 's \"fine\" \t1\n")
    (folder / "test.tsv").write_text("index\tsentence\n0\tone .\n1\ttwo .\n")
    return folder


def test_tiny_round_trip(tmp_path: Path) -> None:
    folder = _write(tmp_path / "sst2")
    train = load_sst2(folder, "train")
    assert train.sentences == ["good fun", "bad , dull"] and train.labels.tolist() == [1, 0]
    assert train.n_classes == 2 and train.split == "train"
    assert load_sst2(folder, "dev").sentences == ['it \'s "fine"']
    assert load_sst2(folder, "test").sentences == ["one .", "two ."]


@pytest.mark.parametrize(
    ("split", "text", "line"),
    [
        ("train", "text\tlabel\nx\t1\n", 1),
        ("train", "sentence\tlabel\nx\t1\ny\t2\n", 3),
        ("dev", "sentence\tlabel\nno tab here\n", 2),
        ("test", "index\tsentence\n0\ta\n5\tb\n", 3),
    ],
)
def test_malformed(tmp_path: Path, split: str, text: str, line: int) -> None:
    folder = _write(tmp_path / "sst2")
    (folder / f"{split}.tsv").write_text(text)
    with pytest.raises(DataError, match=rf"{split}\.tsv:{line}: "):
        load_sst2(folder, split)  # type: ignore[arg-type]


def test_bad_split_and_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_sst2(tmp_path, "validation")  # type: ignore[arg-type]
    with pytest.raises(DataNotFoundError, match=r"dev\.tsv"):
        load_sst2(tmp_path, "dev")
