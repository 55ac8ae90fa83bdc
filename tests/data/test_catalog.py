import json
from pathlib import Path

import pytest

from tandem.core.errors import DataNotFoundError
from tandem.data.catalog import describe_datasets


def test_real_catalog_matches_source_md(data_root: Path) -> None:
    infos = {i.name: i for i in describe_datasets(data_root)}
    for name in ("movielens-100k", "amazon-s3rec", "sst2", "uci-adult", "uci-bank-marketing"):
        info = infos[name]
        if not info.found:
            continue
        assert info.counts == info.expected, name
        assert info.sha256_ok is True and info.error is None, name
    assert infos["sklearn-digits"].counts == {"rows": 1797, "features": 64, "classes": 10}


def test_partial_root(tmp_path: Path) -> None:
    (tmp_path / "sst2").mkdir()
    files = {"train": "sentence\tlabel\na\t1\n", "dev": "sentence\tlabel\n", "test": "index\tsentence\n"}
    for split, body in files.items():
        (tmp_path / "sst2" / f"{split}.tsv").write_text(body)
    (tmp_path / "amazon-s3rec").mkdir()
    (tmp_path / "amazon-s3rec" / "Beauty.txt").write_text("1 2 3\nbroken x\n")
    infos = {i.name: i for i in describe_datasets(tmp_path)}
    assert infos["sst2"].found and infos["sst2"].counts == {"train": 1, "dev": 0, "test": 0}
    assert infos["sst2"].sha256_ok is False  # tiny files are not the published ones
    assert not infos["movielens-100k"].found and infos["movielens-100k"].sha256_ok is None
    assert infos["amazon-s3rec"].found  # light counting does not parse ids; the loader would reject line 2
    no_verify = {i.name: i for i in describe_datasets(tmp_path, verify=False)}
    assert no_verify["sst2"].sha256_ok is None
    json.dumps([i.to_dict() for i in infos.values()])


def test_explicit_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        describe_datasets(tmp_path / "absent")
