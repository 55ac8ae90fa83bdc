"""Where tandem finds its real data sets, without guessing silently.

The checkout sits at ``<x>/main`` with the shared, read-only data at ``<x>/shared/data``. Users elsewhere point
tandem at their own copy with an explicit path or ``$TANDEM_DATA`` (read only here, on the edge, so library code
below takes plain paths). Every failure names every place that was tried.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tandem.core.errors import DataNotFoundError

ENV_VAR = "TANDEM_DATA"

#: Folder names under the data root, one per data set family.
DATASET_FOLDERS: dict[str, str] = {
    "movielens-100k": "movielens-100k",
    "amazon-s3rec": "amazon-s3rec",
    "sst2": "sst2",
    "uci-adult": "uci-adult",
    "uci-bank-marketing": "uci-bank-marketing",
}


def _walk_up(start: Path) -> list[Path]:
    """Candidate ``<ancestor>/shared/data`` folders from ``start`` up to the filesystem root."""
    start = start.resolve()
    return [ancestor / "shared" / "data" for ancestor in (start, *start.parents)]


def candidate_roots(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """Every place :func:`find_data_root` looks, in order (explicit, ``$TANDEM_DATA``, walks up)."""
    env = os.environ if env is None else env
    places: list[Path] = []
    if explicit is not None:
        places.append(Path(explicit).expanduser())
    if env.get(ENV_VAR):
        places.append(Path(env[ENV_VAR]).expanduser())
    for start in (Path.cwd(), Path(__file__).parent):
        for place in _walk_up(start):
            if place not in places:
                places.append(place)
    return places


def find_data_root(explicit: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """Return the folder that holds tandem's real data sets.

    Resolution order: ``explicit``; then ``$TANDEM_DATA`` (``env`` defaults to ``os.environ``); then the first
    existing ``shared/data`` folder found walking up from the current directory, then from this file. An explicit
    path or a set ``$TANDEM_DATA`` that does not exist is an error, not a cue to keep looking: the caller asked for
    that place. Raises :class:`DataNotFoundError` listing every place tried.
    """
    env = os.environ if env is None else env
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            return path
        raise DataNotFoundError(f"data root {str(path)!r} (given explicitly) is not a directory")
    if env.get(ENV_VAR):
        path = Path(env[ENV_VAR]).expanduser()
        if path.is_dir():
            return path
        raise DataNotFoundError(f"data root {str(path)!r} (from ${ENV_VAR}) is not a directory")
    tried = candidate_roots(None, env)
    for place in tried:
        if place.is_dir():
            return place
    listing = "\n  ".join(str(p) for p in tried)
    raise DataNotFoundError(
        f"no data root found; pass a path, set ${ENV_VAR}, or place the data at <checkout>/../shared/data. "
        f"Tried ${ENV_VAR} (unset) and:\n  {listing}"
    )


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """Return ``<data root>/<folder of name>``; raise :class:`DataNotFoundError` if it is absent."""
    folder = DATASET_FOLDERS.get(name, name)
    base = find_data_root(root)
    path = base / folder
    if not path.is_dir():
        raise DataNotFoundError(f"data set {name!r} not found: {str(path)!r} is not a directory")
    return path


def peers_dir(root: str | Path | None = None) -> Path:
    """Return the peer-baseline folder (``peers/``, the data root's sibling) or raise DataNotFoundError."""
    path = find_data_root(root).parent / "peers"
    if not path.is_dir():
        raise DataNotFoundError(f"peer baseline folder {str(path)!r} not found (expected beside the data root)")
    return path
