"""docs/quickstart.md: the shortest program of each direction runs as written and prints sensible figures."""

from __future__ import annotations

import ast
import re

import pytest
from tests._snippets import ROOT, python_blocks, run_snippet

DOC = ROOT / "docs" / "quickstart.md"
BLOCKS = python_blocks(DOC)


def _imports(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_one_program_per_direction_using_only_public_names():
    assert len(BLOCKS) == 3
    for code in BLOCKS:
        tandem = {m for m in _imports(code) if m.split(".")[0] == "tandem"}
        assert tandem and all(m.count(".") <= 1 for m in tandem), tandem  # tandem or tandem.<package>
        assert not any("._" in m or m.endswith(("recipes", "bench")) for m in tandem)


def test_cloud_to_device_distills_and_delivers_int8(tmp_path):
    out, _ = run_snippet(BLOCKS[0], tmp_path)
    large = re.search(r"large model \(fp32\): (\d+) bytes, accuracy (\d\.\d+)", out)
    delivered = re.search(r"delivered \(int8\):\s+(\d+) bytes, accuracy (\d\.\d+)", out)
    assert large and delivered, out
    assert int(delivered.group(1)) * 10 < int(large.group(1))
    assert float(delivered.group(2)) > 0.8 and float(large.group(2)) > 0.9


def test_cloud_for_device_confidence_beats_random_at_a_budget(tmp_path):
    out, _ = run_snippet(BLOCKS[1], tmp_path)
    rows = re.findall(r"(\w+): request rate (\d\.\d+)\s+accuracy (\d\.\d+)\s+gap recovered (-?\d\.\d+)", out)
    assert len(rows) == 12, out
    at_20 = {policy: float(acc) for policy, rate, acc, _ in rows if abs(float(rate) - 0.2) < 0.02}
    assert at_20["confidence"] > at_20["random"], out


@pytest.mark.parametrize("block", [2])
def test_device_to_cloud_federates(tmp_path, block):
    out, _ = run_snippet(BLOCKS[block], tmp_path)
    match = re.search(r"accuracy (\d\.\d+) after 20 rounds, (\d+\.\d+) MB on the wire", out)
    assert match, out
    assert float(match.group(1)) > 0.5 and float(match.group(2)) > 0
