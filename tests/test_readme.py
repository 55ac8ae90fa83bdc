"""README's Python quickstart runs as written: federates the user's own model over their own arrays in < 60 s."""

from __future__ import annotations

import re

from tests._snippets import ROOT, python_blocks, run_snippet


def test_quickstart_block_is_short_and_uses_only_the_public_face():
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) == 1, "README.md should have exactly one ```python block (the quickstart)"
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 20
    assert "from tandem import" in code
    assert not re.search(r"tandem\.\w+\.\w+", code), "the quickstart imports only tandem and its top-level packages"


def test_quickstart_runs_and_prints_a_plausible_accuracy(tmp_path):
    out, elapsed = run_snippet(python_blocks(ROOT / "README.md")[0], tmp_path)
    match = re.search(r"accuracy after 20 rounds: (\d\.\d+)", out)
    assert match, out
    assert 0.5 < float(match.group(1)) <= 1.0, out
    assert elapsed < 60, f"the quickstart took {elapsed:.1f} s"
