"""The client of a ``tandem fl run`` config as a :class:`~tandem.federated.app.ClientApp`, for device agents.

``tandem fl run CONFIG --transport http`` starts agents with
``tandem device --app tandem.recipes.fl.app:client_app --app-args '{"config": "<resolved config>"}'``;
each builds the same clients and model as the cloud (:func:`~tandem.recipes.fl.build.build_task`).
"""

from __future__ import annotations

from tandem.federated.app import ClientApp
from tandem.recipes.fl.build import build_task
from tandem.recipes.fl.config import load_config


def client_app(config: str) -> ClientApp:
    """The ClientApp of the config file at ``config``."""
    cfg = load_config(config)
    task = build_task(cfg)
    return ClientApp(task.model, task.data, seed=cfg.seed)
