"""The app in a real browser (headless Chromium through Playwright): type a prompt, generate, see the
gallery; make a blend grid and click a cell into the style knobs. Nothing may leave 127.0.0.1.

Screenshots go to ``test-output/`` (gitignored). Skips only when Chromium or Playwright is missing
(``.ci/run`` installs both, so CI runs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from test_app_api import app_url  # noqa: F401  (the app on a tiny checkpoint, launched as `galip-studio serve` does)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
OUT = Path(__file__).resolve().parent.parent / "test-output"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


def test_generate_and_blend_cell_in_the_browser(browser, app_url):
    OUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).scheme in ("http", "https", "ws", "wss") and urlparse(r.url).hostname not in LOCAL_HOSTS else None)
    page.goto(app_url)
    page.get_by_text("GALIP Studio").first.wait_for(timeout=30_000)

    # Generate: a prompt, the button, the gallery of 8 PNGs.
    page.get_by_label("Prompt", exact=True).fill("a 3d emoji of a cat face")
    page.get_by_role("button", name="Generate", exact=True).click()
    thumbs = page.locator("#galip-gallery img")
    thumbs.nth(7).wait_for(timeout=60_000)
    assert thumbs.count() == 8
    src = thumbs.first.get_attribute("src") or ""
    assert ".png" in src and "cat-face" in src
    page.wait_for_function("() => [...document.querySelectorAll('#galip-gallery img')].every(i => i.complete && i.naturalWidth === 32)", timeout=30_000)
    page.get_by_text("Model: ").first.wait_for()
    assert "tiny" in page.locator("#galip-banner").inner_text()
    page.mouse.move(0, 0)  # no hover highlight in the screenshot
    page.screenshot(path=str(OUT / "app-generate.png"), full_page=True)

    # Blend grid: make one, click cell (row 1, column 3) of 5x5, land in Style knobs with its weights.
    page.get_by_role("tab", name="Blend grid").click()
    page.get_by_role("button", name="Blend", exact=True).click()
    grid = page.locator("#galip-blend-grid img")
    grid.wait_for(timeout=60_000)
    page.wait_for_function("() => { const i = document.querySelector('#galip-blend-grid img'); return i && i.complete && i.naturalWidth > 0 }")
    x, y = page.evaluate(
        """([row, col, n]) => {
            const img = document.querySelector('#galip-blend-grid img');
            const r = img.getBoundingClientRect();
            const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);
            const pitch = (img.naturalWidth - 2) / n;
            const left = r.left + (r.width - img.naturalWidth * s) / 2, top = r.top + (r.height - img.naturalHeight * s) / 2;
            return [left + (2 + pitch * (col + 0.5)) * s, top + (2 + pitch * (row + 0.5)) * s];
        }""",
        [1, 3, 5],
    )
    page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('button[role=tab][aria-selected=true]')?.innerText.includes('Style knobs')", timeout=30_000)
    knob = page.locator("#galip-knob-image img")
    knob.wait_for(timeout=60_000)
    # Cell (1, 3) of 5x5: x = 0.75, y = 0.25 -> weights 0.1875, 0.5625, 0.0625, 0.1875.
    page.get_by_text("56% a 3d emoji of a smiling face").wait_for(timeout=30_000)
    page.mouse.move(0, 0)
    page.screenshot(path=str(OUT / "app-knobs.png"), full_page=True)
    page.close()
    assert outside == [], f"requests left 127.0.0.1: {outside}"
