"""The HTML report opened in a real headless Chromium: every chart decodes at the size the
page gives it, and the screenshot shows them drawn (the series' colours are on screen)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from maildesk.app import App
from maildesk.report import charts, render
from maildesk.report.charts import COLOURS, HEIGHT_PX, WIDTH_PX
from maildesk.report.data import gather
from tests.report.helpers import END, START, play_desk
from tests.servers.chromium import chromium_path, dump_dom, screenshot

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="*** SKIPPED: chromium is not installed (apt-get install chromium); "
    "the HTML report was NOT checked in a browser ***",
)

#: Appended to a copy of the page by the test only (the report itself has no script): what
#: the browser made of each image, written where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.querySelectorAll("img.chart")].map(i => ({
    id: i.id, complete: i.complete, natural: [i.naturalWidth, i.naturalHeight],
    shown: [i.width, i.height]}));
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(imgs);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture
def page(app: App, tmp_path: Path) -> Path:
    if not charts.available():
        pytest.skip(f"*** SKIPPED: {charts.MISSING}: no charts to look at ***")
    play_desk(app)
    data = gather(app, START, END)
    path = tmp_path / "report.html"
    path.write_text(render.html(data, charts.draw(data, render.WORDS["es"])), encoding="utf-8")
    return path


def test_report_charts_decode_in_chromium_at_the_size_the_page_gives(
    page: Path, tmp_path: Path
) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(probe)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    images = json.loads(found.group(1).replace("&quot;", '"'))
    assert [i["id"] for i in images] == [
        "chart-weekly", "chart-backlog", "chart-sla", "chart-first_response", "chart-resolution",
    ]  # fmt: skip
    for img in images:
        assert img["complete"], img
        width, height = img["natural"]
        assert width > 0 and height > 0, img  # decoded: a broken image has no natural size
        assert abs(width / height - WIDTH_PX / HEIGHT_PX) < 0.02, img
        assert img["shown"] == [WIDTH_PX, HEIGHT_PX], img


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def test_report_screenshot_shows_the_charts_drawn(page: Path, tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="*** SKIPPED: Pillow missing ***")
    shot = screenshot(page, tmp_path / "report.png", 900, 2600)
    img = image_module.open(shot).convert("RGB")
    assert img.size == (900, 2600)
    counts: dict[tuple[int, int, int], int] = {}
    for colour, n in img.getcolors(maxcolors=900 * 2600) or []:
        counts[n] = counts.get(n, 0) + colour
    # bars, areas and histogram bins in their series colours: thousands of pixels each
    for series in ("opened", "resolved", "closed", "first_response"):
        near = sum(
            c
            for rgb, c in counts.items()
            if all(abs(a - b) <= 12 for a, b in zip(rgb, _rgb(COLOURS[series]), strict=True))
        )
        assert near > 1500, f"{series}: {near} pixels of {COLOURS[series]}"
    white = counts.get((255, 255, 255), 0)
    assert white < 0.93 * 900 * 2600, "the page is nearly blank"
