"""Headless Chromium for the tests that look at pages as a person would (Debian's ``chromium`` package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found (/usr/bin/chromium); install it: apt-get install -y chromium"
)


def run_chromium(profile: Path, url: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Open ``url`` headless with a fresh profile; every non-loopback fetch goes to a dead proxy and fails."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--proxy-server=http://127.0.0.1:9", "--hide-scrollbars", "--window-size=1280,2400", *args, url,
    ]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"headless Chromium did not finish within {timeout_s:.0f} s")


def screenshot(profile: Path, url: str, out: Path, *, size: tuple[int, int] = (1280, 1000), wait_ms: int = 0) -> Path:
    """A PNG of ``url`` at ``size`` (after ``wait_ms`` of virtual time), palette-compressed so docs stay small."""
    from PIL import Image

    raw = out.with_suffix(".raw.png")
    budget = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    run_chromium(profile, url, f"--window-size={size[0]},{size[1]}", *budget, f"--screenshot={raw}")
    with Image.open(raw) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink()
    return out
