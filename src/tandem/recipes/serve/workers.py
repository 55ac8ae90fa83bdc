"""``tandem serve --workers N``: N server processes on one port, sharing one PostgreSQL database.

uvicorn's supervisor starts N worker processes (and starts a new one when one dies, even by ``kill -9``);
each builds the same application from the :class:`~tandem.recipes.serve.cli.ServeConfig` the parent hands
it in the environment (the recipe edge; the library never reads it). Everything the workers share lives in
the database: devices, the signing key (made once, by the parent, before the workers start), models, rounds
and their updates. Every write is committed before it is answered, and closing a round is one conditional
transaction, so one closer wins whichever worker's ticker gets there first.

SQLite allows one writer at a time and its locking is per process, so N > 1 needs PostgreSQL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tandem.core.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tandem.recipes.serve.cli import ServeConfig

CONFIG_ENV = "TANDEM_SERVE_WORKER_CONFIG"
"""Where the parent puts the worker's config (JSON of ServeConfig, admin token filled in)."""


def check_workers(workers: int, db_url: str) -> None:
    """Refuse ``workers > 1`` on anything but PostgreSQL, before any work."""
    if workers > 1 and not db_url.startswith("postgresql"):
        raise ConfigError(
            f"--workers {workers} needs a PostgreSQL database (--db postgresql+psycopg://user:pw@host/db): "
            f"SQLite ({db_url}) takes one writer at a time and its locks are per process; use --workers 1 with it"
        )


def build_app(config: ServeConfig, admin_token: str) -> FastAPI:
    """The server application one worker runs (the same one ``tandem serve`` runs in one process)."""
    import torch

    from tandem.recipes.serve.cli import round_policy
    from tandem.recipes.serve.demo import DemoTask
    from tandem.server.app import create_app

    torch.set_num_threads(1)
    kwargs: dict[str, Any] = {}
    if config.demo:
        task = DemoTask(config.features, config.classes, config.seed)
        kwargs = {"inference_model": task.large_model(), "inference_in_features": config.features}
    return create_app(
        config.db,
        admin_token=admin_token,
        enroll_key=config.enroll_key,
        max_body_bytes=config.max_body_mb << 20,
        lease_s=config.lease,
        round_policy=round_policy(config.round),
        **kwargs,
    )


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process (``tandem.recipes.serve.workers:worker_app``)."""
    from tandem.recipes.serve.cli import ServeConfig

    raw = os.environ.get(CONFIG_ENV)
    if raw is None:
        raise ConfigError(f"{CONFIG_ENV} is not set: worker_app runs under tandem serve --workers N")
    config = ServeConfig.model_validate_json(raw)
    assert config.admin_token is not None  # the parent fills it in
    return build_app(config, config.admin_token)


def run_workers(config: ServeConfig, admin_token: str) -> None:
    """Serve with ``config.workers`` processes (blocks until the supervisor exits)."""
    import uvicorn

    check_workers(config.workers, config.db)
    os.environ[CONFIG_ENV] = config.model_copy(update={"admin_token": admin_token}).model_dump_json()
    uvicorn.run(
        "tandem.recipes.serve.workers:worker_app",
        factory=True,
        workers=config.workers,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,
        # a worker answers the supervisor's health ping only once its process has started (imports, the demo
        # model); on a busy machine that takes longer than uvicorn's 5 s default, which would kill it in a loop
        timeout_worker_healthcheck=60,
    )
