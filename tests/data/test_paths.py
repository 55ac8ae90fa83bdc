from pathlib import Path

import pytest

from tandem.core.errors import DataNotFoundError
from tandem.data import paths
from tandem.data.paths import dataset_dir, find_data_root, peers_dir


def _layout(tmp_path: Path) -> Path:
    data = tmp_path / "x" / "shared" / "data"
    (data / "sst2").mkdir(parents=True)
    (tmp_path / "x" / "shared" / "peers").mkdir()
    (tmp_path / "x" / "main" / "src").mkdir(parents=True)
    return data


def test_explicit_wins_over_env(tmp_path: Path) -> None:
    data = _layout(tmp_path)
    assert find_data_root(data, env={"TANDEM_DATA": str(tmp_path)}) == data


def test_env_used_when_no_explicit(tmp_path: Path) -> None:
    data = _layout(tmp_path)
    assert find_data_root(env={"TANDEM_DATA": str(data)}) == data


def test_explicit_or_env_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="given explicitly"):
        find_data_root(tmp_path / "nope", env={})
    with pytest.raises(DataNotFoundError, match="TANDEM_DATA"):
        find_data_root(env={"TANDEM_DATA": str(tmp_path / "nope")})


def test_walks_up_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _layout(tmp_path)
    monkeypatch.delenv("TANDEM_DATA", raising=False)
    monkeypatch.chdir(tmp_path / "x" / "main" / "src")
    assert find_data_root(env={}) == data
    assert dataset_dir("sst2", root=None) == data / "sst2"
    assert peers_dir() == data.parent / "peers"


def test_walks_up_from_package_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _layout(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "x" / "main" / "src" / "tandem" / "data" / "paths.py"))
    assert find_data_root(env={}) == data


def test_not_found_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "pkg" / "paths.py"))
    with pytest.raises(DataNotFoundError) as info:
        find_data_root(env={})
    message = str(info.value)
    assert "TANDEM_DATA" in message
    assert str(tmp_path / "shared" / "data") in message
    assert str(tmp_path / "pkg" / "shared" / "data") in message


def test_dataset_dir_missing(tmp_path: Path) -> None:
    data = _layout(tmp_path)
    with pytest.raises(DataNotFoundError, match="movielens-100k"):
        dataset_dir("movielens-100k", data)
