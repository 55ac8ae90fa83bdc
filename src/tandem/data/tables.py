"""A user's own table (CSV, TSV or Parquet) with a label column, as model input for classification.

:func:`load_table` returns an :class:`~tandem.data.arrays.ArrayDataset` (float32 features, int64 labels), the form
``tandem fl run`` and every classifier in tandem train on:

* a column whose first value is a number is numeric, and every other value in it must be a number too;
* any other column is categorical and becomes one-hot features ``column=value`` (an empty cell: all zeros);
* the label column's values become classes ``0..k-1``: integers in numeric order, anything else sorted as text
  (:func:`read_table` also returns the class names).

Parquet needs pyarrow, which tandem does not install: without it :func:`load_table` says what to install.
Every malformed input raises :class:`~tandem.core.errors.DataError` naming the file, the line (CSV) or row
(Parquet), and the column.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from tandem.core.errors import ConfigError, DataError
from tandem.data._delimited import check_file, encode_labels, read_delimited
from tandem.data.arrays import ArrayDataset

TABLE_FORMATS: tuple[str, ...] = ("auto", "csv", "tsv", "parquet")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def table_format(path: str | Path, format: str = "auto") -> str:
    """The format of ``path``: ``format`` itself, or (``"auto"``) the one its suffix names."""
    if format not in TABLE_FORMATS:
        raise ConfigError(f"table format must be one of {', '.join(TABLE_FORMATS)}, got {format!r}")
    if format != "auto":
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise ConfigError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; name it "
                          f"(csv, tsv or parquet) or use .csv, .tsv or .parquet")
    return _BY_SUFFIX[suffix]


class _Cells:
    """Columns of Python values with a way to name a cell's place (line of a text file, row of a Parquet file)."""

    def __init__(self, path: Path, names: list[str], columns: list[list[Any]], places: list[str]) -> None:
        self.path, self.names, self.columns, self.places = path, names, columns, places

    def error(self, row: int, col: int, message: str) -> DataError:
        return DataError(f"{self.path}:{self.places[row]}: column {self.names[col]!r} ({col + 1}): {message}")


def _read_csv(path: Path, sep: str | None) -> _Cells:
    table = read_delimited(path, sep)
    columns = [[row[k].strip() for row in table.rows] for k in range(len(table.header))]
    return _Cells(path, table.header, columns, [str(line) for line in table.lines])


def _read_parquet(path: Path) -> _Cells:
    try:  # optional: tandem does not depend on pyarrow (imported by name: it ships no type stubs here)
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ConfigError(f"{path}: reading Parquet needs pyarrow, which is not installed: pip install pyarrow "
                          "(or save the table as CSV)") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for a damaged or non-Parquet file
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    names = [str(n) for n in table.column_names]
    columns = [table.column(k).to_pylist() for k in range(table.num_columns)]
    if table.num_rows == 0:
        raise DataError(f"{path}: the table has no rows")
    # a Parquet row r (0-based) is reported as "row r+1"
    return _Cells(path, names, columns, [f"row {r + 1}" for r in range(table.num_rows)])


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float | np.number):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _numeric(cells: _Cells, col: int) -> np.ndarray:
    values = np.empty(len(cells.columns[col]), dtype=np.float64)
    for i, v in enumerate(cells.columns[col]):
        if v is None or v == "":
            raise cells.error(i, col, "empty value in a numeric column; fill it in or drop the row")
        try:
            values[i] = float(v)
        except (TypeError, ValueError):
            raise cells.error(i, col, f"{v!r} is not a number (the column's first value is, so all must be)") \
                from None
        if not np.isfinite(values[i]):
            raise cells.error(i, col, f"{v!r} is not a finite number")
    return values


def _encode(cells: _Cells, label: str) -> tuple[ArrayDataset, tuple[str, ...]]:
    if label not in cells.names:
        raise DataError(f"{cells.path}: no label column {label!r}; the columns are: {', '.join(cells.names)}")
    y_col = cells.names.index(label)
    raw_labels = cells.columns[y_col]
    for i, v in enumerate(raw_labels):
        if v is None or (isinstance(v, str) and not v.strip()):
            raise cells.error(i, y_col, "empty label; every row needs one")
    y, label_names = encode_labels([str(v).strip() if isinstance(v, str) else v for v in raw_labels])
    if len(label_names) < 2:
        raise DataError(f"{cells.path}: column {label!r} ({y_col + 1}): every row has label "
                        f"{label_names[0]!r}; classification needs at least two classes")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col, name in enumerate(cells.names):
        if col == y_col:
            continue
        values = cells.columns[col]
        first = next((v for v in values if v is not None and v != ""), None)
        if first is not None and _is_number(first):
            blocks.append(_numeric(cells, col)[:, None])
            names.append(name)
            continue
        text = [None if v is None or v == "" else str(v) for v in values]
        categories = sorted({v for v in text if v is not None})
        index = {v: k for k, v in enumerate(categories)}
        block = np.zeros((len(text), len(categories)))
        for i, v in enumerate(text):
            if v is not None:
                block[i, index[v]] = 1.0
        blocks.append(block)
        names += [f"{name}={v}" for v in categories]
    if not names:
        raise DataError(f"{cells.path}: no feature columns besides the label {label!r}")
    X = np.hstack(blocks).astype(np.float32)
    return ArrayDataset(X, y, len(label_names), tuple(names), cells.path.stem), label_names


def read_table(path: str | Path, *, label: str = "label", format: str = "auto", sep: str | None = None
               ) -> tuple[ArrayDataset, tuple[str, ...]]:
    """Like :func:`load_table`, also returning the class names (class ``k`` is ``names[k]``)."""
    p = check_file(path, "table")
    kind = table_format(p, format)
    cells = _read_parquet(p) if kind == "parquet" else _read_csv(p, sep or {"csv": ",", "tsv": "\t"}[kind])
    return _encode(cells, label)


def load_table(path: str | Path, *, label: str = "label", format: str = "auto", sep: str | None = None
               ) -> ArrayDataset:
    """Load a table with a ``label`` column as float32 features and int64 classes (see the module docstring).

    ``format``: ``"auto"`` (by suffix: ``.csv``, ``.tsv``, ``.parquet``), ``"csv"``, ``"tsv"`` or ``"parquet"``;
    ``sep``: the separator of a text table (default: from the format).
    """
    return read_table(path, label=label, format=format, sep=sep)[0]

