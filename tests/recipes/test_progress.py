"""The CLI's rich renderer: one live display, nested library loops add rows to it."""

from __future__ import annotations

from tandem.models.progress import LogProgress, progress_bar, progress_renderer
from tandem.recipes.progress import rich_progress


def test_nested_bars_share_the_live_display_and_the_renderer_ends_with_its_block() -> None:
    with progress_renderer(rich_progress), progress_bar(True) as outer:
        task = outer.add_task("outer", total=1)
        with progress_bar(True) as inner:
            assert inner is outer
            inner.advance(inner.add_task("inner", total=1))
        outer.update(task, advance=1, description="outer done")
    with progress_bar(True) as after:
        assert isinstance(after, LogProgress)
