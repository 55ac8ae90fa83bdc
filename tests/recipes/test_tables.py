"""The CLI draws the library's plain-text tables with rich: same title, columns, justification and cells."""

from __future__ import annotations

from tandem.recipes.tables import rich_table
from tandem.report.table import TextTable


def test_rich_table_keeps_title_columns_justification_and_cells() -> None:
    text = TextTable("t", ("stage", "bytes"), (False, True), (("fl", "1.5 KiB"), ("route", "0 B")))
    table = rich_table(text)
    assert table.title == "t" and [c.header for c in table.columns] == ["stage", "bytes"]
    assert [c.justify for c in table.columns] == ["left", "right"]
    assert list(table.columns[1].cells) == ["1.5 KiB", "0 B"]
