"""Fetch official data files for users with internet: stream, verify sha256, rename atomically.

Nothing here runs unless a caller asks (``load_*(download=True)`` or a loader's ``download(dest)``); tests and
benchmarks read local copies. A file whose sha256 does not match is deleted before the error is raised, so a
failed download leaves nothing behind that a later load could mistake for the real data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.core.errors import DataError, DataNotFoundError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set as its publisher serves it.

    ``filename`` is its name in the local data set folder. ``sha256`` is the expected digest of that local file
    (``None``: unknown, not checked). When ``member`` is set, ``url`` is a zip archive (whose own digest is not
    pinned) and the file is that archive member, matched by exact path or, failing that, by unique basename.
    """

    filename: str
    url: str
    sha256: str | None
    member: str | None = None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    return Path(name)


def _finish(tmp: Path, dest: Path, sha256: str | None, origin: str) -> Path:
    """Check ``tmp`` against ``sha256`` and move it onto ``dest``; delete it and raise on mismatch."""
    if sha256 is not None:
        got = sha256_file(tmp)
        if got != sha256.lower():
            tmp.unlink(missing_ok=True)
            raise DataError(f"{origin}: sha256 mismatch for {dest.name}: expected {sha256}, got {got}")
    os.replace(tmp, dest)
    return dest


def download_file(url: str, dest: str | Path, sha256: str | None, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through a temporary file in the same folder, verify, then rename.

    Any failure (network, mismatch, interrupt) removes the temporary file and leaves ``dest`` as it was.
    Returns ``dest``. Network errors are re-raised as :class:`DataNotFoundError` naming the URL.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(dest)
    try:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "tandem-data/1"})
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out, _CHUNK)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            raise DataNotFoundError(f"could not download {url}: {exc}") from exc
        return _finish(tmp, dest, sha256, url)
    finally:
        tmp.unlink(missing_ok=True)


def _find_member(archive: zipfile.ZipFile, member: str, url: str) -> str:
    names = archive.namelist()
    if member in names:
        return member
    base = member.rsplit("/", 1)[-1]
    hits = [n for n in names if n.rsplit("/", 1)[-1] == base and not n.startswith("__MACOSX")]
    if len(hits) != 1:
        raise DataError(f"{url}: archive has {len(hits)} members named {base!r} (wanted {member!r})")
    return hits[0]


def extract_member(archive_path: str | Path, member: str, dest: str | Path, sha256: str | None) -> Path:
    """Extract one zip member to ``dest`` atomically, verifying its sha256 like :func:`download_file`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(dest)
    try:
        try:
            with zipfile.ZipFile(archive_path) as archive:
                name = _find_member(archive, member, str(archive_path))
                with archive.open(name) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{archive_path}: not a valid zip archive: {exc}") from exc
        return _finish(tmp, dest, sha256, f"{archive_path}!{member}")
    finally:
        tmp.unlink(missing_ok=True)


def is_present(dest: Path, remote: RemoteFile) -> bool:
    """True when the local file exists and, if a digest is pinned, matches it."""
    path = dest / remote.filename
    return path.is_file() and (remote.sha256 is None or sha256_file(path) == remote.sha256)


def download_sources(sources: Sequence[RemoteFile], dest: str | Path, *, timeout: float = 60.0) -> Path:
    """Fetch every file of ``sources`` into folder ``dest``, skipping those already present and verified.

    Archives are downloaded once per URL into a temporary folder, their members extracted and checked, and the
    archive deleted. Returns ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    missing = [s for s in sources if not is_present(dest, s)]
    for remote in (s for s in missing if s.member is None):
        download_file(remote.url, dest / remote.filename, remote.sha256, timeout=timeout)
    by_archive: dict[str, list[RemoteFile]] = {}
    for remote in (s for s in missing if s.member is not None):
        by_archive.setdefault(remote.url, []).append(remote)
    for url, members in by_archive.items():
        with tempfile.TemporaryDirectory(dir=dest) as scratch:
            archive = download_file(url, Path(scratch) / "archive.zip", None, timeout=timeout)
            for remote in members:
                extract_member(archive, remote.member or "", dest / remote.filename, remote.sha256)
    return dest


def verify_sources(sources: Iterable[RemoteFile], dest: str | Path) -> bool | None:
    """True if every pinned file in ``dest`` matches; False if one differs or is missing; None if none pinned."""
    pinned = [s for s in sources if s.sha256 is not None]
    if not pinned:
        return None
    return all(is_present(Path(dest), s) for s in pinned)
