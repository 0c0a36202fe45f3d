"""App latency: time from request to response against a launched app, files fetched, as a browser gets it.

    python benchmarks/app_latency.py                     # the bundled model (else the newest checkpoint, else tiny)
    python benchmarks/app_latency.py --checkpoint DIR
    python benchmarks/app_latency.py --preset tiny       # a random model of a preset
    python benchmarks/app_latency.py --client gradio_client   # the same calls through gradio_client

Starts the app on 127.0.0.1 (the first free port from 7860) in this process, warms every action up once, then times
``--repeats`` calls of each: one image (``/generate``), a 4x4 blend grid (``/blend``, with its
captioned 256 px-a-cell download), one style-knob update (``/style_knob``) and a 48-frame GIF
export (``/walk``, the app's default 256 px frames, GIF only). Prints median and min seconds per
action: what a user waits for, queue and file transfer included.

Then a live drag of a Style-knob weight for ``--drag-seconds``: the slider moves every 16 ms (a
60 Hz pointer) and, as the page does (``trigger_mode="always_last"``), one update is in flight at a
time and the newest weight is sent when it returns. Prints the updates per second the image makes
and how far behind the pointer the image is when an update lands (median).

Then, in headless Chromium (``--browser-steps N``, default 20; 0 skips it): the Style knobs tab as
a user drives it. A weight slider gets N arrow-key steps (right, then left, one at a time), and each
is timed in the page from the key going down to the new image decoded and painted (the ``<img>``'s
new ``src`` loaded, then the next animation frame). Prints median and p90 and a Markdown table row
for docs/app.md, naming the CPU (``/proc/cpuinfo``), its cores and the load average at the start.
``--browser-only`` skips the API calls. Needs Playwright and Chromium (``--chromium PATH``).

``--client http`` (default) does what the browser does, over Gradio's HTTP API: submit the event
(``POST /gradio_api/call/NAME``), read its result stream, then download every file the result names.
``--client gradio_client`` makes the same calls through ``gradio_client.Client.predict``, which adds
its own overhead (about 0.1-0.15 s per call on a 2-core machine, measured against a no-op endpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import torch


class HttpClient:
    """Gradio's HTTP API as a browser uses it: submit, read the event stream, fetch the output files."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=600)

    def predict(self, *data: Any, api_name: str) -> list[Any]:
        name = api_name.lstrip("/")
        event_id = self.http.post(f"/gradio_api/call/{name}", json={"data": list(data)}).raise_for_status().json()["event_id"]
        event, payload = None, None
        with self.http.stream("GET", f"/gradio_api/call/{name}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = json.loads(line.split(":", 1)[1])
                    break
        if event != "complete":
            raise RuntimeError(f"/{name} failed: {payload}")
        for url in dict.fromkeys(_file_urls(payload)):
            self.http.get(url).raise_for_status()
        return payload


def _file_urls(value: Any) -> list[str]:
    """The ``url`` of every file (``{"path": ..., "url": ...}``) anywhere in an API result."""
    if isinstance(value, dict):
        own = [value["url"]] if "path" in value and isinstance(value.get("url"), str) else []
        return own + [u for v in value.values() for u in _file_urls(v)]
    if isinstance(value, (list, tuple)):
        return [u for v in value for u in _file_urls(v)]
    return []


def live_drag(client: Any, corners: tuple[str, ...], seconds: float, pointer_hz: float = 60.0) -> tuple[float, float]:
    """A weight dragged from 0 to 2 and back for ``seconds``, one update in flight (the newest value
    next): returns (updates per second, median time from the pointer reaching a value to its image)."""

    def weight_at(t: float) -> float:
        phase = (t / 2.0) % 2.0  # 0 -> 2 in 2 s, then back
        return round(phase if phase <= 1.0 else 2.0 - phase, 2) * 2.0

    start = time.perf_counter()
    done, lags = 0, []
    while (now := time.perf_counter() - start) < seconds:
        tick = now - (now % (1.0 / pointer_hz))  # the pointer's latest position, sent now
        client.predict(*corners, weight_at(tick), 0.3, 0.2, 0.1, 0, 1.0, True, api_name="/style_knob")
        lags.append(time.perf_counter() - start - tick)
        done += 1
    return done / (time.perf_counter() - start), statistics.median(lags)


def cpu_name() -> str:
    """The CPU's model name and this machine's core count, e.g. "AMD EPYC 7B13, 2 cores"."""
    from galip_studio.device import cpu_model

    return f"{' '.join(cpu_model().split())}, {os.cpu_count()} cores"


# Installed once in the page: a key going down on a Style-knob weight starts a clock; the knob
# image's next new src, once loaded and painted (decode, then the next animation frame), stops it.
KNOB_CLOCK = """() => {
  window.__galipLap = null;
  document.addEventListener('keydown', () => { window.__galipT0 = performance.now(); window.__galipLap = null; }, true);
  let last = document.querySelector('#galip-knob-image img')?.src || '';
  new MutationObserver(() => {
    const img = document.querySelector('#galip-knob-image img');
    if (!img || !img.src || img.src === last) return;
    last = img.src;
    const src = img.src;
    img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
      if (window.__galipT0 != null) { window.__galipLap = { ms: performance.now() - window.__galipT0, src }; window.__galipT0 = null; }
    }));
  }).observe(document.querySelector('#galip-knob-image'), { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
}"""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def browser_knob_steps(url: str, steps: int, chromium: str | None) -> list[float]:
    """Seconds from an arrow key on a Style-knob weight to the new image shown, ``steps`` times
    (one step at a time: the next key after the image of the last one is shown)."""
    from playwright.sync_api import sync_playwright

    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_function("() => document.querySelectorAll('#galip-gallery img').length > 0", timeout=300_000)
            page.get_by_role("tab", name="Style knobs").click()
            page.wait_for_function("() => document.querySelector('#galip-knob-image img')?.src", timeout=120_000)
            page.wait_for_timeout(1000)  # the render the tab starts with is done
            page.evaluate(KNOB_CLOCK)
            knob = page.locator("#galip-weight-2 input[type=range]")
            knob.focus()
            laps: list[float] = []
            for i in range(steps + 1):  # the first is a warm-up
                page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
                page.wait_for_function("() => window.__galipLap !== null", timeout=120_000)
                if i:
                    laps.append(page.evaluate("() => window.__galipLap.ms") / 1000)
                page.wait_for_timeout(200)  # a user's next step, not a queue of them
            return laps
        finally:
            browser.close()


def load(args: argparse.Namespace):
    """The pipeline to serve, and a name for it."""
    from galip_studio.pipeline import GALIPPipeline
    from galip_studio.ui.models import ModelLoadError, resolve_checkpoint

    if args.preset:
        return GALIPPipeline.from_preset(args.preset, device=args.device), f"preset {args.preset} (random weights)"
    try:
        path = resolve_checkpoint(args.checkpoint)
    except ModelLoadError as e:
        if args.checkpoint:
            raise
        print(f"note: {e}; using the tiny random preset")
        return GALIPPipeline.from_preset("tiny", device=args.device), "preset tiny (random weights)"
    return GALIPPipeline.from_pretrained(path, device=args.device), str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=None)
    src.add_argument("--preset", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gif-repeats", type=int, default=3, help="repeats of the 48-frame GIF export")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--client", choices=("http", "gradio_client"), default="http", help="how to call the app (see above)")
    ap.add_argument("--drag-seconds", type=float, default=5.0, help="length of the simulated live drag (0: skip)")
    ap.add_argument("--browser-steps", type=int, default=20, help="knob steps timed in headless Chromium (0: skip)")
    ap.add_argument("--browser-only", action="store_true", help="only the headless-Chromium knob steps, not the API calls")
    ap.add_argument("--chromium", default=None, help="the Chromium to drive (default: chromium on PATH)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from galip_studio.ui.app import build_app
    from galip_studio.ui.launch import launch_app

    pipe, name = load(args)
    load_avg = os.getloadavg()[0]
    demo, url = launch_app(build_app(pipe), block=False, quiet=True)  # the first free port from 7860
    try:
        if args.browser_steps > 0:
            laps = browser_knob_steps(url, args.browser_steps, args.chromium)
            median, p90 = statistics.median(laps), percentile(laps, 0.9)
            machine = f"{cpu_name()}, load {load_avg:.1f}"
            print(f"knob step -> new image shown (headless Chromium), {len(laps)} steps: median {median:.3f} s, p90 {p90:.3f} s, "
                  f"best {min(laps):.3f} s; {machine}; torch threads {torch.get_num_threads()}; model {name}")
            print("| machine | model | knob step → image shown, median | p90 | steps |")
            print(f"| {machine} | {Path(name).name} ({pipe.image_size} px, {pipe.device}) | {median:.2f} s | {p90:.2f} s | {len(laps)} |")
        if args.browser_only:
            return
        if args.client == "http":
            client: Any = HttpClient(url)
        else:
            from gradio_client import Client

            client = Client(url, verbose=False)
        corners = ("a red apple", "a smiling sun", "a slice of pizza", "a green heart")
        actions: list[tuple[str, Callable[[int], Any], int]] = [
            ("one image (/generate)", lambda i: client.predict("a red apple", 1, i, 1.0, 256, "nearest", api_name="/generate"), args.repeats),
            ("4x4 blend grid (/blend)", lambda i: client.predict(*corners, 4, i, 1.0, 256, "nearest", api_name="/blend"), args.repeats),
            (
                "style-knob update (/style_knob)",
                lambda i: client.predict(*corners, 1.0, 0.1 * (i % 10 + 1), 0.3, 0.0, 0, 1.0, True, api_name="/style_knob"),
                args.repeats,
            ),
            (
                "48-frame GIF export (/walk)",
                lambda i: client.predict(
                    "a 3d emoji of a cat face\na smiling sun", f"{i}, {i + 1}", "keyframes", 48, 24, "loop", "cosine", 1.0,
                    False, ["GIF"], 256, api_name="/walk",
                ),
                args.gif_repeats,
            ),
        ]
        print(f"GALIP Studio app latency — model: {name}, {pipe.image_size} px, {pipe.device}, torch threads {torch.get_num_threads()}, client {args.client}")
        print(f"{'action':<34}{'median s':>10}{'min s':>10}  (over {args.repeats} / {args.gif_repeats} calls after 1 warm-up)")
        for label, call, repeats in actions:
            call(1000)  # warm-up: first-call costs (prompt encoding, allocations) do not count
            times = []
            for i in range(repeats):
                t0 = time.perf_counter()
                call(i)
                times.append(time.perf_counter() - t0)
            print(f"{label:<34}{statistics.median(times):>10.3f}{min(times):>10.3f}")
        if args.drag_seconds > 0:
            rate, lag = live_drag(client, corners, args.drag_seconds)
            print(f"{'live drag (/style_knob)':<34}{rate:>8.1f}/s  image {lag * 1000:.0f} ms behind the pointer (median), over {args.drag_seconds:g} s")
    finally:
        demo.close()


if __name__ == "__main__":
    main()
