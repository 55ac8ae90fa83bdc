"""The server's tables (SQLAlchemy Core) and engine: SQLite in WAL mode by default, PostgreSQL by URL.

Durability: every write the server acknowledges is committed first. On SQLite the connection runs with
``journal_mode=WAL`` (readers never block the writer) and ``synchronous=FULL`` (a commit is on disk
before it returns, so a ``kill -9`` or power cut after the answer loses nothing); on PostgreSQL a
commit is durable by default.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    CursorResult,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.pool import StaticPool

from tandem.core.errors import ConfigError

metadata = MetaData()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # active | revoked
    Column("profile", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("device_id", Integer, primary_key=True),  # devices.id
    Column("seen_at", Float, nullable=False),  # last check-in or authenticated request (server clock)
    Index("ix_leases_seen", "seen_at"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # fp32 envelope of the full state
    Column("sha256", String(64), nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

masks = Table(
    "masks",
    metadata,
    Column("model_id", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("device_id", Integer, primary_key=True),  # -1: the mask every device gets by default
    Column("payload", LargeBinary, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("format", String(16), nullable=False),
    Column("base", Integer, nullable=False),  # base version of a delta, else -1
    Column("device_id", Integer, nullable=False),  # device of a per-device mask, else -1
    Column("payload", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    UniqueConstraint("model_id", "version", "format", "base", "device_id", name="uq_artifact"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("round", Integer, nullable=True),  # set for plans: updates of that round answer them
    Column("payload", LargeBinary, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("sent_at", Float, nullable=False),
    Index("ix_deliveries_round", "kind", "round"),
)

recipients = Table(
    "recipients",
    metadata,
    Column("delivery_id", Integer, ForeignKey("deliveries.id"), primary_key=True),
    Column("device_id", Integer, primary_key=True),
    Column("taken", Boolean, nullable=False, default=False),
    Index("ix_recipients_device", "device_id", "taken"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("round", Integer, nullable=True),  # set for updates: one per (device, round)
    Column("payload", LargeBinary, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("taken", Boolean, nullable=False, default=False),
    UniqueConstraint("kind", "round", "device_id", name="uq_upload_round"),
    Index("ix_uploads_taken", "taken", "kind"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("round", Integer, primary_key=True),
    Column("model_id", String(128), nullable=False),
    Column("base_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("strategy", String(64), nullable=False),
    Column("strategy_kwargs", JSON, nullable=False),
    Column("devices", JSON, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("min_updates", Integer, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("closed_at", Float, nullable=True),
    Column("result_version", Integer, nullable=True),
    Column("n_updates", Integer, nullable=True),
    Column("strategy_state", LargeBinary, nullable=True),  # after aggregation (torch.save bytes)
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("requested", Boolean, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("small_pred", Integer, nullable=False),
    Column("cloud_pred", Integer, nullable=True),
    Column("label", Integer, nullable=True),
    Column("request_id", String(128), nullable=True),
)


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key a single-row INSERT created."""
    key = result.inserted_primary_key
    if key is None:  # only for statements that are not single-row INSERTs
        raise RuntimeError("the statement inserted no row with a primary key")
    return int(key[0])


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db``, ``sqlite://`` in memory, ``postgresql+psycopg://...``).

    Creates the tables if they do not exist.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"database url must look like sqlite:///tandem.db or postgresql+psycopg://..., got {url!r}")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # a DB-API connection; its pool record
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine
