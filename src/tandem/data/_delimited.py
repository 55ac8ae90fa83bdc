"""Reading a user's delimited text files (CSV, TSV, RecBole ``.inter``): header, rows, and errors that point.

Every malformed-input error names the file, the 1-based line and the column, so a user can open the file at the
right place: ``data.csv:7: column 'rating' (3): 'x' is not a number``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tandem.core.errors import DataError, DataNotFoundError
from tandem.data._io import line_error, read_text

#: Separator by file suffix; other suffixes are sniffed from the header line (a tab wins over a comma).
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".inter": "\t"}


@dataclass(frozen=True)
class Delimited:
    """A parsed delimited file: its header and its non-blank rows, each with the line it ends on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str, what: str) -> int:
        """Index of column ``name`` (``what`` says what it is for); a DataError listing the header if absent."""
        if name in self.header:
            return self.header.index(name)
        raise line_error(self.path, 1, f"no column {name!r} for the {what}; the header names: "
                                       f"{', '.join(self.header)} (name the right column, or add a header row)")

    def error(self, row: int, col: int, message: str) -> DataError:
        """A DataError at the line of row ``row`` naming column ``col``."""
        return line_error(self.path, self.lines[row], f"column {self.header[col]!r} ({col + 1}): {message}")

    def floats(self, col: int, what: str) -> np.ndarray:
        """Column ``col`` as float64; a DataError at the first cell that is empty or not a number."""
        values = np.empty(len(self.rows), dtype=np.float64)
        for i, row in enumerate(self.rows):
            cell = row[col].strip()
            try:
                values[i] = float(cell)
            except ValueError:
                shown = "empty" if not cell else f"{cell!r} is not a number"
                raise self.error(i, col, f"{shown} (the {what} must be numbers)") from None
            if not np.isfinite(values[i]):
                raise self.error(i, col, f"{cell!r} is not a finite number (the {what} must be finite)")
        return values

    def tokens(self, col: int, what: str) -> list[str]:
        """Column ``col`` as stripped text; a DataError at the first empty cell."""
        out = []
        for i, row in enumerate(self.rows):
            cell = row[col].strip()
            if not cell:
                raise self.error(i, col, f"empty {what}")
            out.append(cell)
        return out


def check_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it is a readable file, else DataNotFoundError saying what was expected there."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"{what} {str(p)!r} not found")
    if not p.is_file():
        raise DataNotFoundError(f"{what} {str(p)!r} is not a file")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise DataNotFoundError(f"{what} {str(p)!r} cannot be read ({exc.strerror}); check its permissions") from None
    return p


def guess_separator(path: Path, first_line: str) -> str:
    """The separator a file's suffix implies, else a tab if the header line has one, else a comma."""
    if path.suffix.lower() in SEPARATORS:
        return SEPARATORS[path.suffix.lower()]
    return "\t" if "\t" in first_line else ","


def read_delimited(path: str | Path, sep: str | None = None, *, quoting: bool = True) -> Delimited:
    """Parse a delimited text file with a header row (``sep`` None: from the suffix or sniffed).

    Blank lines are skipped; every other row must have as many fields as the header. ``quoting`` False reads
    quote characters literally (RecBole files are tab-separated without quoting).
    """
    p = Path(path)
    text = read_text(p)
    if text.startswith("\ufeff"):  # a byte-order mark (spreadsheet exports) is not part of the first column's name
        text = text[1:]
    first = text.split("\n", 1)[0]
    if sep is None:
        sep = guess_separator(p, first)
    if len(sep) != 1:
        raise DataError(f"{p}: the separator must be one character, got {sep!r}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep,
                        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise line_error(p, 1, "empty header; the first line must name the columns")
        header = [h.strip() for h in header]
        for k, name in enumerate(header):
            if not name:
                raise line_error(p, 1, f"column {k + 1} has no name in the header")
            if name in header[:k]:
                raise line_error(p, 1, f"column {k + 1}: name {name!r} appears twice in the header")
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                shown = {",": "','", "\t": "tab"}.get(sep, repr(sep))
                raise line_error(p, reader.line_num, f"expected {len(header)} {shown}-separated fields "
                                 f"({', '.join(header)}), got {len(row)}")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise line_error(p, reader.line_num, f"cannot parse the row ({exc})") from None
    if not rows:
        raise line_error(p, 2, "no data rows after the header")
    return Delimited(p, header, rows, lines)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def encode_labels(values: Sequence[object]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class ids ``0..k-1`` and the class names: integers in numeric order, anything else sorted as text."""
    names = sorted({str(v) for v in values})
    if all(_is_int(n) for n in names):
        names = sorted(names, key=int)
    index = {name: k for k, name in enumerate(names)}
    return np.array([index[str(v)] for v in values], dtype=np.int64), tuple(names)
