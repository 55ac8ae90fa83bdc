"""UCI Adult (census income) and Bank Marketing: mixed-type tabular sets with binary labels.

Loaders keep the columns raw (numbers as float64, categories as strings, missing as NaN / None);
:class:`TabularEncoder` turns them into model input: one-hot categoricals plus standardized numerics, fitted on
the train split and reused on the others. Both sets are CC BY 4.0 (see their SOURCE.md files for citations).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data._io import data_lines, line_error, read_text, resolve_folder
from tandem.data.arrays import ArrayDataset
from tandem.data.download import RemoteFile, download_sources

_ADULT = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult"
_BANK = "https://archive.ics.uci.edu/ml/machine-learning-databases/00222"
#: Official UCI files; sha256 from shared/data/uci-adult/SOURCE.md.
_ADULT_SHA = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    "adult.names": "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
}
ADULT_SOURCES: tuple[RemoteFile, ...] = tuple(RemoteFile(f, f"{_ADULT}/{f}", sha) for f, sha in _ADULT_SHA.items())
#: Members of UCI's bank.zip / bank-additional.zip; sha256 from shared/data/uci-bank-marketing/SOURCE.md.
BANK_SOURCES: tuple[RemoteFile, ...] = (
    RemoteFile("bank-full.csv", f"{_BANK}/bank.zip",
               "d1513ec63b385506f7cfce9f2c5caa9fe99e7ba4e8c3fa264b3aaf0f849ed32d", "bank-full.csv"),
    RemoteFile("bank.csv", f"{_BANK}/bank.zip",
               "dc8d576e9bda0f41ee891251bd84bab9a39ce576cba715aac08adc2374a01fde", "bank.csv"),
    RemoteFile("bank-additional-full.csv", f"{_BANK}/bank-additional.zip",
               "74adfc578bf77a7ff4bb1ba4a9f8709d9e3c6907342959c2c8416847e0afb4d8",
               "bank-additional/bank-additional-full.csv"),
    RemoteFile("bank-additional.csv", f"{_BANK}/bank-additional.zip",
               "7e59cf650004d65d1c9d6b08553bad2ee9a9ad70d594f536e3c584ee6ed5df50",
               "bank-additional/bank-additional.csv"),
)
SOURCES: tuple[RemoteFile, ...] = ADULT_SOURCES + BANK_SOURCES

ADULT_COLUMNS: tuple[str, ...] = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
    "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
)
ADULT_NUMERIC = frozenset({"age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"})
BANK_FILES: dict[str, str] = {
    "full": "bank-full.csv", "small": "bank.csv",
    "additional-full": "bank-additional-full.csv", "additional": "bank-additional.csv",
}


@dataclass(frozen=True)
class TabularDataset:
    """Raw mixed-type columns and a binary label.

    Fields:
        columns: ``{name: array}`` in file order; numeric columns ``float64`` (NaN = missing), categorical
            ``object`` arrays of ``str`` (None = missing).
        numeric, categorical: column names of each kind, in file order.
        y: ``int64 [n]`` binary label (1 = positive class: income >50K / subscribed "yes").
        name: data set and split, for reports.
    """

    columns: dict[str, np.ndarray]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    y: np.ndarray
    name: str = ""

    def __len__(self) -> int:
        return int(self.y.size)

    def to_numpy(self, encoder: TabularEncoder | None = None) -> ArrayDataset:
        """Encode with ``encoder`` (fitted on a train split), or fit a new default one on this data."""
        return (encoder if encoder is not None else TabularEncoder().fit(self)).transform(self)


class TabularEncoder:
    """One-hot categoricals + standardized numerics, fitted once and reused (scikit-learn style).

    Missing or unseen categories encode as all-zero groups; missing numerics become 0 (the train mean) after
    standardization. Columns in ``drop`` are ignored (e.g. Bank's ``duration``, which leaks the label).
    Learned state: ``numeric_``, ``mean_``, ``scale_``, ``categories_``, ``feature_names_``.
    """

    def __init__(self, drop: tuple[str, ...] = ()) -> None:
        self.drop = drop

    def fit(self, ds: TabularDataset) -> TabularEncoder:
        self.numeric_ = tuple(c for c in ds.numeric if c not in self.drop)
        self.categorical_ = tuple(c for c in ds.categorical if c not in self.drop)
        cols = [ds.columns[c] for c in self.numeric_]
        self.mean_ = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in cols])
        std = np.array([np.nanstd(c) if np.isfinite(c).any() else 0.0 for c in cols])
        self.scale_ = np.where(std > 0, std, 1.0)
        self.categories_ = {c: sorted({v for v in ds.columns[c] if v is not None}) for c in self.categorical_}
        self.feature_names_ = self.numeric_ + tuple(f"{c}={v}" for c in self.categorical_ for v in self.categories_[c])
        return self

    def transform(self, ds: TabularDataset) -> ArrayDataset:
        if not hasattr(self, "categories_"):
            raise ConfigError("TabularEncoder.transform called before fit")
        missing = [c for c in self.numeric_ + self.categorical_ if c not in ds.columns]
        if missing:
            raise ConfigError(f"TabularEncoder: {ds.name!r} lacks columns {missing}")
        n = len(ds)
        parts = [np.nan_to_num((np.column_stack([ds.columns[c] for c in self.numeric_]) - self.mean_) / self.scale_)
                 if self.numeric_ else np.zeros((n, 0))]
        for c in self.categorical_:
            index = {v: i for i, v in enumerate(self.categories_[c])}
            codes = np.array([index.get(v, -1) for v in ds.columns[c]], dtype=np.int64)
            block = np.zeros((n, len(index)))
            hit = codes >= 0
            block[np.flatnonzero(hit), codes[hit]] = 1.0
            parts.append(block)
        X = np.hstack(parts).astype(np.float32)
        return ArrayDataset(X, ds.y.copy(), 2, self.feature_names_, ds.name)


def _columns(rows: list[list[str]], names: tuple[str, ...], numeric: frozenset[str], missing: str | None,
             path: Path, first_line: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        raw = [r[j] for r in rows]
        if name in numeric:
            values = np.empty(len(raw))
            for i, v in enumerate(raw):
                try:
                    values[i] = np.nan if v == missing else float(v)
                except ValueError:
                    raise line_error(path, first_line + i, f"column {name!r}: {v!r} is not a number") from None
        else:
            values = np.array([None if v == missing else v for v in raw], dtype=object)
        out[name] = values
    return out


def parse_adult(path: str | Path, name: str = "adult") -> TabularDataset:
    """Parse ``adult.data`` / ``adult.test``: ``", "``-separated, 15 fields, ``?`` missing, labels maybe ``.``."""
    path = Path(path)
    lines = data_lines(read_text(path))
    start = 1 if lines and lines[0].startswith("|") else 0
    rows, labels = [], []
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            if any(rest.strip() for rest in lines[lineno:]):
                raise line_error(path, lineno, "blank line before the end of the file")
            break
        fields = [f.strip() for f in line.split(",")]
        label = fields[-1].rstrip(".")
        if len(fields) != 15 or label not in ("<=50K", ">50K"):
            raise line_error(path, lineno, f"expected 15 fields ending in <=50K or >50K, got {line[:80]!r}")
        rows.append(fields[:14])
        labels.append(label == ">50K")
    columns = _columns(rows, ADULT_COLUMNS, ADULT_NUMERIC, "?", path, start + 1)
    numeric = tuple(c for c in ADULT_COLUMNS if c in ADULT_NUMERIC)
    categorical = tuple(c for c in ADULT_COLUMNS if c not in ADULT_NUMERIC)
    return TabularDataset(columns, numeric, categorical, np.asarray(labels, dtype=np.int64), name)


def parse_bank(path: str | Path, name: str = "bank") -> TabularDataset:
    """Parse a Bank Marketing csv: ``;``-separated, header row, strings quoted, numbers bare, target ``y``."""
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=";", quoting=csv.QUOTE_NONNUMERIC)
    try:
        header = [str(h) for h in next(reader)]
        body = list(reader)
    except StopIteration:
        raise line_error(path, 1, "empty file, expected a header row") from None
    except ValueError as exc:
        raise line_error(path, reader.line_num, f"unquoted field is not a number ({exc})") from None
    if not header or header[-1] != "y":
        raise line_error(path, 1, f"expected a header row ending in 'y', got {header[-3:]}")
    body = [r for r in body if r]
    for i, row in enumerate(body):
        if len(row) != len(header) or row[-1] not in ("yes", "no"):
            raise line_error(path, i + 2, f"expected {len(header)} fields ending in \"yes\"/\"no\"")
    names = tuple(header[:-1])
    numeric = tuple(c for j, c in enumerate(names) if body and isinstance(body[0][j], float))
    for i, row in enumerate(body):
        for j, c in enumerate(names):
            if isinstance(row[j], float) != (c in numeric):
                raise line_error(path, i + 2, f"column {c!r}: {row[j]!r} has the wrong type for this column")
    columns = {c: (np.array([r[j] for r in body], dtype=np.float64) if c in numeric
                   else np.array([r[j] for r in body], dtype=object)) for j, c in enumerate(names)}
    y = np.array([r[-1] == "yes" for r in body], dtype=np.int64)
    return TabularDataset(columns, numeric, tuple(c for c in names if c not in numeric), y, name)


def download(dest: str | Path, which: Literal["adult", "bank", "both"] = "both") -> Path:
    """Fetch Adult files and/or Bank zips' members from UCI into ``dest``, each verified by sha256."""
    sources = {"adult": ADULT_SOURCES, "bank": BANK_SOURCES, "both": SOURCES}[which]
    return download_sources(sources, dest)


def load_adult(path: str | Path | None = None, split: Literal["train", "test"] = "train",
               download: bool = False) -> TabularDataset:
    """Load Adult ``train`` (adult.data, 32,561 rows) or ``test`` (adult.test, 16,281) from folder ``path``."""
    if split not in ("train", "test"):
        raise ConfigError(f"load_adult: split must be 'train' or 'test', got {split!r}")
    filename = "adult.data" if split == "train" else "adult.test"
    folder = resolve_folder("uci-adult", path, download=download, sources=ADULT_SOURCES, required=[filename])
    return parse_adult(folder / filename, f"adult-{split}")


def load_bank(path: str | Path | None = None,
              variant: Literal["full", "small", "additional-full", "additional"] = "full",
              download: bool = False) -> TabularDataset:
    """Load a Bank Marketing variant (full: 45,211 rows) from folder ``path``; 'unknown' stays a category.

    The publisher notes ``duration`` leaks the label: use ``TabularEncoder(drop=("duration",))`` for a
    realistic model.
    """
    if variant not in BANK_FILES:
        raise ConfigError(f"load_bank: variant must be one of {sorted(BANK_FILES)}, got {variant!r}")
    folder = resolve_folder("uci-bank-marketing", path, download=download, sources=BANK_SOURCES,
                            required=[BANK_FILES[variant]])
    return parse_bank(folder / BANK_FILES[variant], f"bank-{variant}")
