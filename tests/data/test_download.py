import hashlib
import zipfile
from pathlib import Path

import pytest

from tandem.core.errors import DataError, DataNotFoundError
from tandem.data import sequences
from tandem.data.download import (
    RemoteFile,
    download_file,
    download_sources,
    extract_member,
    sha256_file,
    verify_sources,
)


def _src(tmp_path: Path, name: str, content: bytes) -> tuple[Path, str]:
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_download_file_verifies_and_renames(tmp_path: Path) -> None:
    src, sha = _src(tmp_path, "a.txt", b"hello\n")
    dest = tmp_path / "out" / "a.txt"
    assert download_file(src.as_uri(), dest, sha) == dest
    assert dest.read_bytes() == b"hello\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.txt"]  # no temp file left


def test_sha_mismatch_leaves_nothing(tmp_path: Path) -> None:
    src, _ = _src(tmp_path, "a.txt", b"hello\n")
    dest = tmp_path / "out" / "a.txt"
    with pytest.raises(DataError, match="sha256 mismatch"):
        download_file(src.as_uri(), dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_mismatch_keeps_existing_file(tmp_path: Path) -> None:
    src, _ = _src(tmp_path, "a.txt", b"new\n")
    dest = tmp_path / "a.txt"
    dest.write_bytes(b"old\n")
    with pytest.raises(DataError):
        download_file(src.as_uri(), dest, "0" * 64)
    assert dest.read_bytes() == b"old\n"


def test_unreachable_url(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="could not download"):
        download_file((tmp_path / "missing").as_uri(), tmp_path / "x", None)
    assert list(tmp_path.iterdir()) == []


def test_sources_with_zip_members(tmp_path: Path) -> None:
    archive = tmp_path / "server" / "bundle.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("SET/train.tsv", "t\n")
        zf.writestr("SET/dev.tsv", "d\n")
        zf.writestr("__MACOSX/SET/._dev.tsv", "junk")
    sha = {n: hashlib.sha256(c).hexdigest() for n, c in (("train.tsv", b"t\n"), ("dev.tsv", b"d\n"))}
    sources = [
        RemoteFile("train.tsv", archive.as_uri(), sha["train.tsv"], "SET/train.tsv"),
        RemoteFile("dev.tsv", archive.as_uri(), sha["dev.tsv"], "other/dev.tsv"),  # found by basename
    ]
    dest = tmp_path / "data"
    download_sources(sources, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["dev.tsv", "train.tsv"]
    assert verify_sources(sources, dest) is True
    archive.unlink()  # present and verified files are not fetched again
    download_sources(sources, dest)
    (dest / "dev.tsv").write_text("changed\n")
    assert verify_sources(sources, dest) is False
    assert verify_sources([RemoteFile("x", "file:///x", None)], dest) is None


def test_extract_member_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a valid zip"):
        extract_member(bad, "a", tmp_path / "a", None)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(DataError, match="0 members"):
        extract_member(good, "b.txt", tmp_path / "b.txt", None)
    with pytest.raises(DataError, match="sha256 mismatch"):
        extract_member(good, "a.txt", tmp_path / "a.txt", "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "good.zip"]


def test_loader_download_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, sha = _src(tmp_path, "Beauty.txt", b"1 1 2 3\n2 2 3\n")
    monkeypatch.setattr(sequences, "SOURCES", (RemoteFile("Beauty.txt", src.as_uri(), sha),))
    dest = tmp_path / "beauty"
    with pytest.raises(DataNotFoundError, match="download=True"):
        sequences.load_s3rec(dest)  # no implicit download
    ds = sequences.load_s3rec(dest, download=True)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 3, 5)
    assert sha256_file(dest / "Beauty.txt") == sha
