"""Fixtures for tandem.data tests: real data where present (skip cleanly where not), tiny files otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.core.errors import DataNotFoundError
from tandem.data.paths import find_data_root, peers_dir


@pytest.fixture(scope="session")
def data_root() -> Path:
    try:
        return find_data_root()
    except DataNotFoundError as exc:
        pytest.skip(f"real data sets not available (set $TANDEM_DATA or place ../shared/data): {exc}")


@pytest.fixture(scope="session")
def peers() -> Path:
    try:
        return peers_dir()
    except DataNotFoundError as exc:
        pytest.skip(f"peer baseline files not available (../shared/peers): {exc}")


def real_folder(data_root: Path, name: str) -> Path:
    """``data_root / name`` or skip the test with the reason."""
    folder = data_root / name
    if not folder.is_dir():
        pytest.skip(f"{name} not found under {data_root}")
    return folder
