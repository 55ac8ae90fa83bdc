"""The command line's live progress bar: rich, on stderr, drawing what library code reports.

Library loops report through :func:`tandem.models.progress.progress_bar` (log lines by default); the
``tandem`` command installs :func:`rich_progress` as the renderer for the duration of a command
(:func:`tandem.models.progress.progress_renderer`), so a person at a terminal sees bars while the library
itself never imports rich.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from tandem.models.progress import ProgressBar


class _RichBar:
    """A :class:`~tandem.models.progress.ProgressBar` over a live ``rich.progress.Progress``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def add_task(self, description: str, *, total: float | None = None, **fields: Any) -> int:
        return int(self.progress.add_task(description, total=total, **fields))

    def update(self, task_id: int, **fields: Any) -> None:
        self.progress.update(TaskID(task_id), **fields)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.progress.advance(TaskID(task_id), advance)


_LIVE: ContextVar[_RichBar | None] = ContextVar("tandem_live_progress", default=None)


@contextlib.contextmanager
def rich_progress() -> Iterator[ProgressBar]:
    """A live rich progress bar on stderr, kept on screen when done.

    A bar opened while another is live (a library loop inside a recipe's loop) adds its tasks to the live
    display instead of starting a second one that would fight it for the terminal.
    """
    live = _LIVE.get()
    if live is not None:
        yield live
        return
    columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:
        bar = _RichBar(progress)
        token = _LIVE.set(bar)
        try:
            yield bar
        finally:
            _LIVE.reset(token)
