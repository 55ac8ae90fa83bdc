"""A rich progress bar that can be switched off: ``with progress_bar(enabled) as bar: bar.add_task(...)``.

Long loops (training, per-device personalization, latency runs) report through it; with ``enabled=False`` the
same calls go to a silent stand-in, so library code never branches on whether a bar is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class ProgressBar(Protocol):
    """The subset of ``rich.progress.Progress`` tandem uses."""

    def add_task(self, description: str, *, total: float | None = ..., **fields: Any) -> TaskID: ...

    def update(self, task_id: TaskID, **fields: Any) -> None: ...

    def advance(self, task_id: TaskID, advance: float = 1) -> None: ...


class _Silent:
    """A ``ProgressBar`` that does nothing."""

    def add_task(self, description: str, *, total: float | None = None, **fields: Any) -> TaskID:
        return TaskID(0)

    def update(self, task_id: TaskID, **fields: Any) -> None:
        return None

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        return None


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressBar]:
    """A live rich progress bar (on stderr) if ``enabled``, else a silent stand-in."""
    if not enabled:
        yield _Silent()
        return
    columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False, console=Console(stderr=True)) as bar:
        yield bar
