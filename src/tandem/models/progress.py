"""A rich progress bar that can be switched off: ``with progress_bar(enabled) as bar: bar.add_task(...)``.

Long loops (training, per-device personalization, latency runs) report through it; with ``enabled=False`` the
same calls go to a silent stand-in, so library code never branches on whether a bar is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _Silent:
    """The subset of ``rich.progress.Progress`` tandem uses, doing nothing."""

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        return 0

    def update(self, task_id: int, **_: Any) -> None:
        return None

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress | _Silent]:
    """A live rich progress bar (on stderr) if ``enabled``, else a silent stand-in."""
    if not enabled:
        yield _Silent()
        return
    columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False, console=Console(stderr=True)) as bar:
        yield bar
