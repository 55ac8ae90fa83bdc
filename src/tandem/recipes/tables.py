"""Terminal tables of the command line: rich renderings of the library's plain-text tables."""

from __future__ import annotations

from rich.table import Table

from tandem.report.results import RunResult
from tandem.report.table import TextTable, stage_rows


def rich_table(table: TextTable) -> Table:
    """A rich ``Table`` with ``table``'s title, columns (numbers right-justified) and rows."""
    out = Table(title=table.title)
    for name, right in zip(table.columns, table.right, strict=True):
        out.add_column(name, justify="right" if right else "left")
    for row in table.rows:
        out.add_row(*row)
    return out


def stage_table(result: RunResult) -> Table:
    """The run's stages on the four axes as a rich table (:func:`tandem.report.table.stage_rows`)."""
    return rich_table(stage_rows(result))
