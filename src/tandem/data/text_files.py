"""A user's own labelled text (CSV or TSV with a text column and a label column) as a :class:`TextDataset`.

Texts are whitespace-stripped; labels become classes ``0..k-1`` (integers in numeric order, anything else sorted
as text) and their names go to ``label_names``. Quoted fields may hold the separator and line breaks (standard
CSV quoting). Every malformed input raises :class:`~tandem.core.errors.DataError` naming the file, the line and
the column.
"""

from __future__ import annotations

from pathlib import Path

from tandem.core.errors import ConfigError, DataError
from tandem.data._delimited import check_file, encode_labels, read_delimited
from tandem.data.sst2 import TextDataset

TEXT_FORMATS: tuple[str, ...] = ("auto", "csv", "tsv")


def load_text_file(path: str | Path, *, text: str = "text", label: str = "label", format: str = "auto",
                   sep: str | None = None) -> TextDataset:
    """Load labelled texts from the ``text`` and ``label`` columns of a CSV/TSV file with a header row.

    ``format``: ``"auto"`` (``.tsv`` is tab-separated, ``.csv`` comma-separated, anything else sniffed from the
    header), ``"csv"`` or ``"tsv"``; ``sep`` overrides the separator. The result's ``split`` is the file's stem.
    """
    if format not in TEXT_FORMATS:
        raise ConfigError(f"text format must be one of {', '.join(TEXT_FORMATS)}, got {format!r}")
    p = check_file(path, "text file")
    table = read_delimited(p, sep or {"auto": None, "csv": ",", "tsv": "\t"}[format])
    t_col = table.column(text, "texts")
    y_col = table.column(label, "labels")
    sentences = table.tokens(t_col, "text")
    labels, names = encode_labels(table.tokens(y_col, "label"))
    if len(names) < 2:
        raise DataError(f"{p}: column {label!r} ({y_col + 1}): every row has label {names[0]!r}; "
                        "classification needs at least two classes")
    return TextDataset(sentences, labels, p.stem, names)
