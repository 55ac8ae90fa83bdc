"""Shared file plumbing for the loaders: locate a data set folder, read text, report bad lines.

Every malformed-input error produced here names the file and the 1-based line number, so a user can open the
file at the right place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tandem.core.errors import DataError, DataNotFoundError
from tandem.data.download import RemoteFile, download_sources
from tandem.data.paths import DATASET_FOLDERS, find_data_root


def resolve_folder(
    name: str, path: str | Path | None, *, download: bool, sources: Sequence[RemoteFile], required: Sequence[str]
) -> Path:
    """Return the folder of data set ``name`` holding every file in ``required``.

    ``path`` None means ``<data root>/<folder>`` (see :func:`tandem.data.paths.find_data_root`). With
    ``download`` the missing files are fetched from ``sources`` first; without it nothing touches the network.
    """
    if path is not None:
        folder = Path(path).expanduser()
    else:
        try:
            folder = find_data_root() / DATASET_FOLDERS.get(name, name)
        except DataNotFoundError as exc:
            hint = " (download=True needs a destination: pass path=...)" if download else ""
            raise DataNotFoundError(f"{name}: {exc}{hint}") from exc
    if download:
        download_sources(sources, folder)
    for filename in required:
        if not (folder / filename).is_file():
            origin = next((s.url for s in sources if s.filename == filename), None)
            hint = f"; pass download=True to fetch it from {origin}" if origin else ""
            raise DataNotFoundError(f"{name}: file {str(folder / filename)!r} not found{hint}")
    return folder


def line_error(path: str | Path, lineno: int, message: str) -> DataError:
    """A :class:`DataError` that reads ``<file>:<line>: <message>``."""
    return DataError(f"{path}:{lineno}: {message}")


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole file, turning a decoding failure into a DataError at the offending line."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        raise line_error(path, lineno, f"not valid {encoding} ({exc.reason})") from exc


def data_lines(text: str) -> list[str]:
    """Split on newlines (LF or CRLF), dropping the final empty piece after a trailing newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def int_table(path: str | Path, n_cols: int, sep: str | None = None, encoding: str = "utf-8") -> np.ndarray:
    """Parse a headerless table of integers into an ``int64`` array of shape ``[rows, n_cols]``.

    Fast path: one ``split`` of the whole text. If that fails, the lines are scanned to name the first bad one.
    """
    text = read_text(path, encoding)
    lines = data_lines(text)
    try:
        flat = text.split() if sep is None else [field for line in lines for field in line.split(sep)]
        table = np.array(flat, dtype=np.int64)
        if table.size == n_cols * len(lines):
            return table.reshape(len(lines), n_cols)
    except (ValueError, OverflowError):
        pass
    for lineno, line in enumerate(lines, start=1):
        fields = line.split(sep) if sep is not None else line.split()
        if len(fields) != n_cols:
            raise line_error(path, lineno, f"expected {n_cols} fields, got {len(fields)}: {line[:80]!r}")
        for field in fields:
            try:
                int(field)
            except ValueError:
                raise line_error(path, lineno, f"field {field!r} is not an integer") from None
    raise line_error(path, len(lines), "could not parse table")  # pragma: no cover - unreachable in practice
