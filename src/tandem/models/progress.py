"""Progress of long loops (training, per-device personalization, latency runs), as log lines or a live bar.

Library code reports through ``with progress_bar(enabled) as bar: task = bar.add_task(...); bar.advance(task)``
and never branches on how progress is shown. By default, an enabled bar writes INFO lines to this module's
logger (``tandem.models.progress``): a task's start, each quarter of the way, and its end. The command line
(the only place tandem draws on a terminal) installs a live renderer for the duration of a command with
:func:`progress_renderer`; the rich bar it uses lives in :mod:`tandem.recipes.progress`, so the library never
imports rich. With ``enabled=False`` every call goes to a silent stand-in.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

QUARTERS = 4
"""A logged task writes one line per ``1 / QUARTERS`` of its total (and one at its end)."""


class ProgressBar(Protocol):
    """What library code calls on a progress bar (the subset of ``rich.progress.Progress`` tandem uses)."""

    def add_task(self, description: str, *, total: float | None = ..., **fields: Any) -> int: ...

    def update(self, task_id: int, **fields: Any) -> None: ...

    def advance(self, task_id: int, advance: float = 1) -> None: ...


Renderer = Callable[[], AbstractContextManager[ProgressBar]]
"""A factory of live progress bars (entered once per ``progress_bar`` block)."""

_RENDERER: ContextVar[Renderer | None] = ContextVar("tandem_progress_renderer", default=None)


class _Silent:
    """A ``ProgressBar`` that does nothing."""

    def add_task(self, description: str, *, total: float | None = None, **fields: Any) -> int:
        return 0

    def update(self, task_id: int, **fields: Any) -> None:
        return None

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    logged_quarter: int = 0
    started: float = 0.0


class LogProgress:
    """A ``ProgressBar`` that writes INFO log lines: start, every quarter of the total, end (module docs)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger
        self.tasks: list[_Task] = []

    def add_task(self, description: str, *, total: float | None = None, **fields: Any) -> int:
        self.tasks.append(_Task(description, total, started=time.perf_counter()))
        self.logger.info("%s: started%s", description, "" if total is None else f" ({total:g} steps)")
        return len(self.tasks) - 1

    def update(self, task_id: int, **fields: Any) -> None:
        task = self.tasks[task_id]
        if isinstance(fields.get("description"), str):
            task.description = fields["description"]
        if fields.get("total") is not None:
            task.total = float(fields["total"])
        if fields.get("completed") is not None:
            task.completed = float(fields["completed"])
        self._step(task, float(fields.get("advance") or 0))

    def advance(self, task_id: int, advance: float = 1) -> None:
        self._step(self.tasks[task_id], float(advance))

    def _step(self, task: _Task, advance: float) -> None:
        task.completed += advance
        if not task.total or not self.logger.isEnabledFor(logging.INFO):
            return
        quarter = min(QUARTERS, int(QUARTERS * task.completed / task.total))
        if quarter > task.logged_quarter:
            task.logged_quarter = quarter
            elapsed = time.perf_counter() - task.started
            self.logger.info("%s: %g/%g (%.1f s)", task.description, task.completed, task.total, elapsed)


@contextlib.contextmanager
def progress_renderer(renderer: Renderer | None) -> Iterator[None]:
    """Within this block, enabled progress bars are drawn by ``renderer`` (None: logged); for the CLI edge."""
    token = _RENDERER.set(renderer)
    try:
        yield
    finally:
        _RENDERER.reset(token)


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressBar]:
    """The installed live renderer's bar, or log lines (module docs) if ``enabled``; else a silent stand-in."""
    if not enabled:
        yield _Silent()
        return
    renderer = _RENDERER.get()
    if renderer is None:
        yield LogProgress()
        return
    with renderer() as bar:
        yield bar
