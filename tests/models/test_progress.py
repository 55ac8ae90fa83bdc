"""Library progress: log lines by default, the renderer the CLI installs inside its block, silence when off."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from tandem.models.progress import LogProgress, ProgressBar, progress_bar, progress_renderer


def _run(bar: ProgressBar, total: int = 8) -> None:
    task = bar.add_task("work", total=total)
    for _ in range(total):
        bar.advance(task)
    bar.update(task, description="work done", advance=0)


def test_enabled_progress_logs_start_quarters_and_end(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tandem.models.progress"), progress_bar(True) as bar:
        assert isinstance(bar, LogProgress)
        _run(bar)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "work: started (8 steps)" and len(lines) == 1 + 4 and lines[-1].startswith("work: 8/8")


def test_disabled_progress_is_silent(caplog) -> None:
    with caplog.at_level(logging.INFO), progress_bar(False) as bar:
        _run(bar)
    assert not caplog.records


def test_installed_renderer_draws_inside_its_block_only() -> None:
    calls: list[tuple[str, Any]] = []

    class Recorder:
        def add_task(self, description: str, *, total: float | None = None, **fields: Any) -> int:
            calls.append(("add", description))
            return 7

        def update(self, task_id: int, **fields: Any) -> None:
            calls.append(("update", fields.get("description")))

        def advance(self, task_id: int, advance: float = 1) -> None:
            calls.append(("advance", task_id))

    @contextlib.contextmanager
    def renderer() -> Iterator[ProgressBar]:
        yield Recorder()

    with progress_renderer(renderer), progress_bar(True) as bar:
        _run(bar, total=2)
    assert calls == [("add", "work"), ("advance", 7), ("advance", 7), ("update", "work done")]
    with progress_bar(True) as bar:
        assert isinstance(bar, LogProgress)
