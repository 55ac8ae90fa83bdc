"""The report as a person sees it: rendered by headless Chromium with no network.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``); skipped with that hint when absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .browser import needs_chromium, run_chromium

pytestmark = needs_chromium

# Measures every plot after layout and writes the numbers into the DOM; added to a test copy only
# (the report itself has no scripts).
PROBE = """<script>
const figs = [...document.querySelectorAll("figure.plot")].map(f => {
  const svg = f.querySelector("svg"), box = svg.getBoundingClientRect(), inner = svg.getBBox();
  return {id: f.id, width: box.width, height: box.height, inner: inner.width * inner.height,
          paths: svg.querySelectorAll("path").length};
});
document.body.setAttribute("data-probe", JSON.stringify(figs));
</script>"""


def test_plots_and_numbers_render_in_chromium(rendered_report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(rendered_report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = run_chromium(tmp_path / "profile", probed.as_uri(), "--dump-dom").stdout
    match = re.search(r'data-probe="([^"]*)"', dom)
    assert match, "the probe script did not run"
    figures = json.loads(match.group(1).replace("&quot;", '"'))
    ids = {f["id"] for f in figures}
    assert {"curve-hr-10", "curve-accuracy", "tradeoff-bytes-accuracy", "tradeoff-request-rate-hr-10",
            "tiers-hr-10"} <= ids
    for figure in figures:
        assert figure["width"] > 300 and figure["height"] > 150, figure  # laid out at a readable size
        assert figure["inner"] > 0 and figure["paths"] > 20, figure  # and actually drawn
    text = re.sub(r"<[^>]+>", " ", dom.split('<section id="runs">')[1])
    for number in ("0.2274", "0.7000", "8.1 MiB", "budget 10%", "flagship"):
        assert number in text


def test_screenshot_is_not_blank(rendered_report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    run_chromium(tmp_path / "profile", rendered_report.as_uri(), f"--screenshot={shot}")
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # header, tables and plots: many colours, not an empty page
