"""The databases the server tests run on: SQLite (a file under the test's tmp folder) and PostgreSQL when
``TANDEM_TEST_POSTGRES_URL`` (or the older ``TANDEM_TEST_PG_URL``) names a server, e.g.
``postgresql+psycopg://tandem:tandem@127.0.0.1:5432/tandem_test`` as ``.ci/postgres.sh`` prints it.

Each PostgreSQL test gets a schema of its own in that database (the URL's ``options=-csearch_path=...`` points
every connection at it; dropped afterwards), so tests, and engineers running them at once, never see each other's
rows. A schema costs milliseconds where a new database costs a second.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql")
NO_POSTGRES = "set TANDEM_TEST_POSTGRES_URL (bash .ci/postgres.sh prints it) to run the PostgreSQL variant"


def postgres_url() -> str | None:
    return os.environ.get("TANDEM_TEST_POSTGRES_URL") or os.environ.get("TANDEM_TEST_PG_URL") or None


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema for one test (skips the test without the URL or psycopg)."""
    url = postgres_url()
    if url is None:
        pytest.skip(NO_POSTGRES)
    pytest.importorskip("psycopg")
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    name = f"tandem_t_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield _with_schema(url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def database(backend: str, tmp_path: Path, name: str = "tandem.db") -> Iterator[str]:
    """A database URL of ``backend`` ("sqlite" or "postgresql"), empty, for one test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / name}"
    elif backend == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}")
