"""Run the ```python blocks of a Markdown file as written, each in a fresh interpreter (shared by the doc tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    """The code of every block fenced as ```python in ``path``, in order."""
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def run_snippet(code: str, cwd: Path, timeout_s: float = 600.0) -> tuple[str, float]:
    """Run ``code`` with this interpreter in ``cwd``; return its stdout and wall seconds (fails on a non-zero exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    elapsed = time.perf_counter() - tic
    assert proc.returncode == 0, f"snippet failed ({proc.returncode}):\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    return proc.stdout, elapsed
