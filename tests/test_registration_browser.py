"""End to end in headless Chromium: the real page, a fake camera showing a person's photos, enrolment, then
the runtime side (detect + embed + protect + match the gallery) recognises that person's held-out probes."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from peoplelens.registration_app.enroll import assess_photo, default_analyzer
from peoplelens.registration_app.store import PeopleStore
from peoplelens.registration_app.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PERSON, NAME = "john_salley", "John Salley"

# Replaces the camera with a canvas stream that shows window.__fakePhotos[window.__fakeIndex] (scaled x2 on
# a grey 640x480 frame); index -1 shows an empty grey frame.
FAKE_CAMERA_JS = """
(() => {
  const imgs = %s.map((src) => { const i = new Image(); i.src = src; return i; });
  window.__fakeIndex = 0;
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const ctx = canvas.getContext("2d");
  function draw() {
    ctx.fillStyle = "#777"; ctx.fillRect(0, 0, 640, 480);
    const img = imgs[window.__fakeIndex];
    if (img && img.complete && img.naturalWidth) {
      const w = img.naturalWidth * 2, h = img.naturalHeight * 2;
      ctx.drawImage(img, (640 - w) / 2, (480 - h) / 2, w, h);
    }
  }
  setInterval(draw, 30); draw();
  navigator.mediaDevices.getUserMedia = async () => canvas.captureStream(30);
})();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def served_store(tmp_path):
    """The registration app on a free localhost port, serving a fresh store."""
    store = PeopleStore.open(tmp_path / "people.db")
    app = create_app(store, analyzer=default_analyzer())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield store, f"http://127.0.0.1:{port}/?token={app.state.token}"
    server.should_exit = True
    thread.join(timeout=5)


def test_enrol_in_chromium_then_recognise_probes(served_store, data_dir):
    from playwright.sync_api import expect, sync_playwright

    store, url = served_store
    photos = sorted((data_dir / "faces/enroll" / PERSON).glob("*.jpg"))[:4]
    data_urls = ["data:image/jpeg;base64," + base64.b64encode(p.read_bytes()).decode() for p in photos]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 480, "height": 1100})
            page.add_init_script(FAKE_CAMERA_JS % json.dumps(data_urls))
            page.goto(url)
            expect(page.locator("#status")).to_contain_text("Camera ready", timeout=10_000)
            items = page.locator("#photos li")
            for i in range(len(photos)):
                page.evaluate("(i) => { window.__fakeIndex = i; }", i)
                page.wait_for_timeout(200)  # a few frames of the new picture reach the <video>
                page.click("#take")
                expect(items).to_have_count(i + 1, timeout=10_000)
                expect(items.nth(i)).to_contain_text("good photo")
            page.evaluate("() => { window.__fakeIndex = -1; }")
            page.wait_for_timeout(200)
            page.click("#take")
            expect(items.nth(len(photos))).to_contain_text("no face found", timeout=10_000)
            expect(page.locator("#status")).to_contain_text(f"{len(photos)} good photo(s) so far")
            expect(page.locator("#bins span.done")).to_have_text(["✓ frontal"])
            page.fill("#name", NAME)
            page.click("#enrol")
            expect(page.locator("#result")).to_contain_text(f"enrolled {NAME} from {len(photos)} photo(s)",
                                                            timeout=15_000)
            expect(page.locator("#people")).to_contain_text(f"{NAME} ({len(photos)} views)")
            expect(page.locator("#status")).to_contain_text(f"Enrolled {NAME}")
            expect(items).to_have_count(len(photos) + 1)  # the feedback stays visible after enrolling
            if os.environ.get("PEOPLELENS_SCREENSHOT"):
                page.screenshot(path=os.environ["PEOPLELENS_SCREENSHOT"], full_page=True)
        finally:
            browser.close()

    # the runtime side: protect live embeddings and match them against the gallery
    records = store.people()
    assert [(r.name, r.n_vectors, r.has_name_audio) for r in records] == [(NAME, len(photos), True)]
    gallery = store.gallery()
    for probe in sorted((data_dir / "faces/probe").glob("*/*.jpg")):
        embedding = assess_photo(probe).embedding
        assert embedding is not None, probe
        name, score = gallery.best_match(store.protect(embedding), threshold=0.35)[0]
        if probe.parent.name == PERSON:
            assert name == NAME and score > 0.5, (probe, score)
        else:
            assert name is None, (probe, score)
    assert not list(Path(store.path).parent.glob("*.jpg"))
