"""``--dataset PATH``: what the benches share to read a user's own file instead of a built-in data set.

A bench's ``dataset`` field takes a built-in name or the path of an existing file; the column-name fields below
(:class:`InteractionFileFields`, mixed into the recommender benches' configs) say how to read an interaction log.
The loaders themselves are the library's (:func:`tandem.data.load_interactions` and friends).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, field_validator

from tandem.data.sequences import SequenceDataset


def check_dataset(value: str, names: Collection[str], what: str = "a data file") -> str:
    """``value`` if it is a built-in name or an existing file, else a ValueError saying both choices."""
    if value in names:
        return value
    path = Path(value).expanduser()
    if path.is_file() and os.access(path, os.R_OK):
        return value
    if path.is_file():
        raise ValueError(f"{value!r} cannot be read (permission denied); check its permissions")
    where = "is a folder, not a file" if path.is_dir() else "is not a file that exists"
    raise ValueError(f"{value!r} is neither a built-in data set ({', '.join(names)}) nor {what}: the path {where}")


def is_file_dataset(value: str, names: Collection[str]) -> bool:
    """True when ``value`` names a user's file rather than a built-in set."""
    return value not in names


def dataset_label(value: str) -> str:
    """A short name for result files and caches: the built-in name, or a file's stem made filename-safe."""
    stem = Path(value).stem if ("/" in value or "\\" in value or "." in value) else value
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "data"


#: The fields of :class:`InteractionFileFields` (options that only read a dataset file).
INTERACTION_FILE_FIELDS = ("data_format", "user_column", "item_column", "time_column", "rating_column", "min_rating",
                           "separator")


class InteractionFileFields(BaseModel):
    """How to read a user's interaction log (``dataset`` given as a path); mixed into the benches' configs."""

    data_format: Literal["auto", "csv", "tsv", "recbole", "s3rec"] = "auto"
    """Format of a dataset file: auto (by suffix: .csv, .tsv, .inter = RecBole, .txt = S3-Rec), csv, tsv, recbole
    or s3rec."""
    user_column: str = "user_id"
    """Dataset file: the column of user ids (CSV/TSV/RecBole)."""
    item_column: str = "item_id"
    """Dataset file: the column of item ids (CSV/TSV/RecBole)."""
    time_column: str | None = "auto"
    """Dataset file: the column that orders each user's items (auto: 'timestamp' if the header has it, else file
    order)."""
    rating_column: str | None = None
    """Dataset file: the column of ratings (used with min_rating)."""
    min_rating: float | None = None
    """Dataset file: drop rows rated below this (needs rating_column)."""
    separator: str | None = None
    """Dataset file: the field separator (default: from the format)."""

    @field_validator("separator")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        return one_character(value)


def check_file_options(config: BaseModel, names: Collection[str], file_fields: Collection[str]) -> None:
    """A ValueError when options that only read a dataset file were set while ``config.dataset`` is built in
    (they would do nothing: the user most likely forgot ``--dataset PATH``)."""
    dataset = getattr(config, "dataset", None)
    if dataset not in names:
        return
    given = [f for f in file_fields if f in config.model_fields_set]
    if given:
        shown = ", ".join(f"--{f.replace('_', '-')}" for f in given)
        raise ValueError(f"{shown}: only for a dataset file, but the dataset is the built-in {dataset!r}; give "
                         f"--dataset PATH or drop {'them' if len(given) > 1 else 'it'}")


def one_character(value: str | None) -> str | None:
    """A field separator: one character (``\\t`` and ``tab`` mean a tab)."""
    if value is None:
        return None
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if len(value) != 1:
        raise ValueError("the separator must be one character (or tab)")
    return value


def load_interaction_file(path: str, fields: InteractionFileFields) -> SequenceDataset:
    """The sequences of a user's interaction log read as ``fields`` say."""
    from tandem.data.interactions import load_interactions

    return load_interactions(path, format=fields.data_format, user=fields.user_column, item=fields.item_column,
                             timestamp=fields.time_column, rating=fields.rating_column,
                             min_rating=fields.min_rating, sep=fields.separator)
