"""GLUE SST-2: binary sentiment of movie-review phrases (Socher et al., EMNLP 2013; GLUE, ICLR 2019).

train (67,349 labelled phrases) and dev (872 labelled sentences) are ``sentence<TAB>label`` with a header;
test (1,821 sentences) is ``index<TAB>sentence`` and carries no labels, so use dev as the held-out set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tandem.core.errors import ConfigError
from tandem.data._io import data_lines, line_error, read_text, resolve_folder
from tandem.data.download import RemoteFile, download_sources

Split = Literal["train", "dev", "test"]
_ZIP = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
#: The GLUE zip (its own digest is not pinned); each member is verified against SOURCE.md's sha256.
_SHA = {
    "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
    "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
    "test.tsv": "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
}
SOURCES: tuple[RemoteFile, ...] = tuple(RemoteFile(f, _ZIP, sha, f"SST-2/{f}") for f, sha in _SHA.items())
LABEL_NAMES: tuple[str, ...] = ("negative", "positive")


@dataclass(frozen=True)
class TextDataset:
    """Sentences with optional integer labels.

    Fields:
        sentences: ``list[str]``, whitespace-stripped (GLUE keeps a trailing space before the tab).
        labels: ``int64 [n]`` (0 negative, 1 positive) or None for the unlabelled test split.
        split: which file this came from.
        label_names: names of label values 0, 1, ...
    """

    sentences: list[str]
    labels: np.ndarray | None
    split: str
    label_names: tuple[str, ...] = LABEL_NAMES

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


def parse_sst2(path: str | Path, split: Split) -> TextDataset:
    """Parse one GLUE SST-2 tsv; header must be ``sentence\\tlabel`` (train/dev) or ``index\\tsentence`` (test)."""
    lines = data_lines(read_text(path))
    header = "index\tsentence" if split == "test" else "sentence\tlabel"
    if not lines or lines[0] != header:
        raise line_error(path, 1, f"expected header {header!r}, got {lines[0][:80] if lines else ''!r}")
    sentences: list[str] = []
    labels: list[int] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if split == "test":
            index, sep, text = line.partition("\t")
            if not sep or index != str(lineno - 2):
                raise line_error(path, lineno, f"expected '<index {lineno - 2}>\\t<sentence>'")
        else:
            text, sep, label = line.rpartition("\t")
            if not sep or label not in ("0", "1"):
                raise line_error(path, lineno, f"expected '<sentence>\\t<0|1>', got {line[-40:]!r}")
            labels.append(int(label))
        sentences.append(text.strip())
    y = None if split == "test" else np.asarray(labels, dtype=np.int64)
    return TextDataset(sentences, y, split)


def download(dest: str | Path) -> Path:
    """Fetch SST-2.zip from GLUE's mirror and extract train/dev/test.tsv into ``dest``, each sha256-checked."""
    return download_sources(SOURCES, dest)


def load_sst2(path: str | Path | None = None, split: Split = "train", download: bool = False) -> TextDataset:
    """Load one split of SST-2 from folder ``path`` (default ``<data root>/sst2``)."""
    if split not in ("train", "dev", "test"):
        raise ConfigError(f"load_sst2: split must be 'train', 'dev' or 'test', got {split!r}")
    folder = resolve_folder("sst2", path, download=download, sources=SOURCES, required=[f"{split}.tsv"])
    return parse_sst2(folder / f"{split}.tsv", split)
