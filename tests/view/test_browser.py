"""The viewer in a real browser (headless Chromium): thumbnails load, class names show, a hostile class name stays text.

Run with TFREC_VIEW_SCREENSHOT=docs/view-gallery.png to also write the README's screenshot.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from .conftest import EVIL, serving

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium; "
                                                ".ci/run installs it)"),
    pytest.mark.slow,
]
WINDOW = (1000, 640)


def chromium(tmp_path, *args: str) -> str:
    """Runs headless Chromium with a throw-away profile; returns its stdout."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _recording(server) -> list[str]:
    """Records every request target the viewer answers."""
    seen, handle = [], server.viewer.handle

    def record(target):
        seen.append(target)
        return handle(target)

    server.viewer.handle = record
    return seen


def test_gallery_and_record_in_chromium(evil_dataset, tmp_path):
    with serving(evil_dataset) as server:
        view = server.viewer.view
        requests = _recording(server)
        dom = chromium(tmp_path, "--window-size=1400,3000", "--dump-dom", server.url + "?per=100")
        thumbs = re.findall(r'<img src="/thumb\?s=(\d+)&amp;i=(\d+)"', dom)
        total = sum(view.count(s.id) for s in view.shards)
        assert len(thumbs) == total == 15
        assert len([t for t in requests if t.startswith("/thumb")]) == total  # the browser fetched every thumbnail
        for name in view.class_names:
            if name != EVIL:
                assert f">{name}</span>" in dom
        # the hostile class name is text in the rendered page: escaped in the serialized DOM, no element made
        assert "&lt;img src=x onerror=alert(1)&gt;" in dom
        assert not re.search(r"<img[^>]*src=\"?x\"?[ >]", dom) and "/x" not in requests

        label = view.class_names.index(EVIL)
        s, i = next((s.id, i) for s in view.shards for i in range(view.count(s.id)) if view.labels(s.id)[i] == label)
        dom = chromium(tmp_path, "--dump-dom", f"{server.url}record?s={s}&i={i}")
        assert f'<img class="full" src="/image?s={s}&amp;i={i}"' in dom
        assert f"{label} (&lt;img src=x onerror=alert(1)&gt;)" in dom
        assert f"/image?s={s}&i={i}" in requests and "/x" not in requests


def test_gallery_screenshot(evil_dataset, tmp_path):
    from PIL import Image

    with serving(evil_dataset) as server:
        shot = tmp_path / "gallery.png"
        chromium(tmp_path, f"--screenshot={shot}", server.url)
    with Image.open(shot) as img:
        assert img.size == WINDOW
        colours = img.convert("RGB").getcolors(1 << 20)
        assert len(colours) > 200  # thumbnails and text drawn, not a blank or error page
        target = os.environ.get("TFREC_VIEW_SCREENSHOT")
        if target:  # the README's picture: a palette PNG keeps it to a few tens of KB
            img.convert("RGB").quantize(64).save(target, optimize=True)
