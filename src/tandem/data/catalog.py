"""What data tandem can see: one :class:`DatasetInfo` per data set, for ``tandem datasets`` and for reports.

Counting is deliberately light (line and token counts, no full parse of the tabular sets) so describing every
data set takes well under two seconds; checksums are the sha256 values pinned in each loader's ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tandem.core.errors import DataError, DataNotFoundError
from tandem.data import movielens, sequences, sst2, uci
from tandem.data._io import data_lines, int_table, read_text
from tandem.data.download import RemoteFile, verify_sources
from tandem.data.paths import find_data_root
from tandem.data.sklearn_sets import SKLEARN_SETS, load_sklearn


@dataclass(frozen=True)
class DatasetInfo:
    """One data set as found on this machine.

    Fields:
        name: the data set's folder name (``movielens-100k``) or ``sklearn-<set>`` for embedded ones.
        path: its folder, or None for sets shipped inside scikit-learn.
        found: every file the loaders need is present.
        counts: what was counted here (users, items, rows per split...).
        expected: the counts recorded in SOURCE.md (empty for embedded sets).
        sha256_ok: True if every pinned file matches, False if one differs or is missing, None if not checked.
        error: why counting failed (malformed file), else None.
    """

    name: str
    path: Path | None
    found: bool
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    sha256_ok: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (path as a string)."""
        return {"name": self.name, "path": None if self.path is None else str(self.path), "found": self.found,
                "counts": dict(self.counts), "expected": dict(self.expected), "sha256_ok": self.sha256_ok,
                "error": self.error}


def _rows(path: Path, header: int = 0) -> int:
    """Non-blank lines minus ``header`` (blank trailing lines, as in UCI files, are not rows)."""
    return sum(1 for line in data_lines(read_text(path, "latin-1")) if line.strip()) - header


def _count_movielens(folder: Path) -> dict[str, int]:
    table = int_table(folder / "u.data", 4, sep="\t")
    return {"users": int(np.unique(table[:, 0]).size), "items": int(np.unique(table[:, 1]).size),
            "ratings": int(table.shape[0])}


def _count_s3rec(folder: Path) -> dict[str, int]:
    lines = data_lines(read_text(folder / "Beauty.txt"))
    items = [tok for line in lines for tok in line.split()[1:]]
    return {"users": len(lines), "items": len(set(items)), "interactions": len(items)}


def _count_sst2(folder: Path) -> dict[str, int]:
    return {split: _rows(folder / f"{split}.tsv", header=1) for split in ("train", "dev", "test")}


def _count_adult(folder: Path) -> dict[str, int]:
    return {"train": _rows(folder / "adult.data"), "test": _rows(folder / "adult.test", header=1)}


def _count_bank(folder: Path) -> dict[str, int]:
    return {variant: _rows(folder / f, header=1) for variant, f in uci.BANK_FILES.items()}


# name -> (required files, pinned sources, counter, counts recorded in SOURCE.md)
_REAL: dict[str, tuple[Sequence[str], Sequence[RemoteFile], Callable[[Path], dict[str, int]], dict[str, int]]] = {
    "movielens-100k": (["u.data", "u.item"], movielens.SOURCES, _count_movielens,
                       {"users": 943, "items": 1682, "ratings": 100_000}),
    "amazon-s3rec": (["Beauty.txt"], sequences.SOURCES, _count_s3rec,
                     {"users": 22_363, "items": 12_101, "interactions": 198_502}),
    "sst2": (["train.tsv", "dev.tsv", "test.tsv"], sst2.SOURCES, _count_sst2,
             {"train": 67_349, "dev": 872, "test": 1_821}),
    "uci-adult": (["adult.data", "adult.test"], uci.ADULT_SOURCES, _count_adult,
                  {"train": 32_561, "test": 16_281}),
    "uci-bank-marketing": (list(uci.BANK_FILES.values()), uci.BANK_SOURCES, _count_bank,
                           {"full": 45_211, "small": 4_521, "additional-full": 41_188, "additional": 4_119}),
}


def describe_datasets(root: str | Path | None = None, *, verify: bool = True) -> list[DatasetInfo]:
    """Describe every real data set under the data root, then the scikit-learn sets shipped with tandem.

    With ``root`` None a missing data root is not an error: each real set is reported with ``found=False`` and
    ``path`` None. An explicit ``root`` that does not exist raises :class:`DataNotFoundError`.
    ``verify=False`` skips sha256 verification (``sha256_ok`` None); verifying all files takes ~0.1 s.
    """
    try:
        base: Path | None = find_data_root(root)
    except DataNotFoundError:
        if root is not None:
            raise
        base = None
    infos: list[DatasetInfo] = []
    for name, (required, sources, counter, expected) in _REAL.items():
        folder = None if base is None else base / name
        found = folder is not None and all((folder / f).is_file() for f in required)
        if not found or folder is None:
            infos.append(DatasetInfo(name, folder, False, expected=expected))
            continue
        counts, error = {}, None
        try:
            counts = counter(folder)
        except DataError as exc:
            error = str(exc)
        ok = verify_sources(sources, folder) if verify else None
        infos.append(DatasetInfo(name, folder, True, counts, expected, ok, error))
    for name in SKLEARN_SETS:
        ds = load_sklearn(name)
        counts = {"rows": len(ds), "features": int(ds.X.shape[1]), "classes": ds.n_classes}
        infos.append(DatasetInfo(f"sklearn-{name}", None, True, counts))
    return infos
