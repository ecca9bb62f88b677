"""`ganforge explore` end to end: a real server process on a free local port, driven by headless
Chromium (Debian's /usr/bin/chromium through Playwright), plus the hardening of its API."""
import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge import api
from ganforge.explore.directions import principal_directions, save_directions
from ganforge.explore.server import MAX_BODY

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        kind = response.getheader("content-type", "")
        return response.status, (json.loads(data) if kind.startswith("application/json") else data)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    save_directions(tiny_run, principal_directions(api.load(tiny_run), k=2, n=8, label=3))
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ganforge", "explore", str(tiny_run),
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _request(port, "GET", "/api/runs")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the explorer did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pixels(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("L"), dtype=np.int16)


def _chromium():
    """Playwright driving Debian's Chromium; in CI a missing browser is a failure, not a skip."""
    ci = bool(os.environ.get("CI"))
    if not CHROMIUM.exists():
        if ci:
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI runs this test")
    if ci:
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    return sync_playwright


def test_explorer_in_headless_chromium(server):
    sync_playwright = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1150})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{server}/")

            def grid_after(version):
                page.wait_for_function(f"Number(document.querySelector('#grid').dataset.version) >= {version}")
                page.wait_for_function("[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth === 16)")
                return page.eval_on_selector_all("#grid img", "els => els.map(e => e.src)")

            start = grid_after(1)
            assert len(start) == 16 and len(set(start)) == 16  # 16 different samples arrived

            # Truncation slider, moved with the keyboard as a person would: 10 steps of 0.05.
            page.focus("#truncation")
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            truncated = grid_after(2)
            assert page.input_value("#truncation") == "0.5"
            assert page.text_content("#truncation-value") == "0.50"
            assert sum(a != b for a, b in zip(start, truncated)) >= 12

            # Class picker: every caption now names class 3 and the images change again.
            page.select_option("#label", "3")
            class3 = grid_after(3)
            captions = page.eval_on_selector_all("#grid figcaption", "els => els.map(e => e.textContent)")
            assert all(c.endswith("· 3") for c in captions) and captions[0] == "seed 0 · 3"
            assert sum(a != b for a, b in zip(truncated, class3)) >= 12

            # A direction slider (principal directions saved for class 3) moves the samples.
            sliders = page.eval_on_selector_all("#directions input", "els => els.map(e => e.id)")
            assert sliders == ["dir-principal-c3.0", "dir-principal-c3.1"]
            page.focus("#dir-principal-c3\\.0")
            for _ in range(8):
                page.keyboard.press("ArrowRight")  # +2.0 along pc0
            moved = grid_after(4)
            assert sum(a != b for a, b in zip(class3, moved)) >= 12
            page.click("#reset-directions")
            back = grid_after(5)
            assert back == class3  # same request, same pictures

            # Interpolation between two picked samples.
            page.click("#grid figure >> nth=0")
            page.click("#grid figure >> nth=5")
            page.fill("#steps", "6")
            page.click("#interpolate")
            page.wait_for_function("document.querySelector('#strip').dataset.version === '1'")
            page.wait_for_function("[...document.querySelectorAll('#strip img')].every(i => i.complete && i.naturalWidth === 16)")
            strip = page.eval_on_selector_all("#strip img", "els => els.map(e => e.src)")
            assert len(strip) == 6
            # Its ends are the picked samples (pixel values within one rounding level).
            assert np.abs(_pixels(strip[0]) - _pixels(class3[0])).max() <= 1
            assert np.abs(_pixels(strip[-1]) - _pixels(class3[5])).max() <= 1

            # Arithmetic by picking samples into groups a, b, c.
            for group, tiles in (("a", [1, 2]), ("b", [3]), ("c", [4])):
                page.check(f"input[name=pick][value={group}]")
                for t in tiles:
                    page.click(f"#grid figure >> nth={t}")
            page.click("#combine")
            page.wait_for_function("document.querySelector('#arithmetic-result').dataset.version === '1'")
            assert page.locator("#arithmetic-result img").count() == 3 + 5  # 3 means, result + 4

            # Download of the last picked sample: a PNG attachment, 8x upscaled.
            link = page.get_attribute("#download", "href")
            assert "seed=4" in link and "label=3" in link and "truncation=0.5" in link
            with page.expect_download() as info:
                page.click("#download")
            saved = ARTIFACTS / "explorer-download.png"
            info.value.save_as(saved)
            with Image.open(saved) as im:
                assert im.size == (128, 128)

            # The run's training curves, drawn by the server from its metrics.jsonl.
            page.wait_for_function("[...document.querySelectorAll('#curves img')].some(i => i.complete && i.naturalWidth > 300)")
            assert "losses" in page.eval_on_selector_all("#curves img", "els => els.map(e => e.alt)")

            page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
            assert errors == []
            assert page.text_content("#status") == "a − b + c and variations"
        finally:
            browser.close()


def test_valid_requests(server):
    status, data = _request(server, "GET", "/api/runs")
    assert status == 200 and [r["name"] for r in data["runs"]] == ["run"]
    status, data = _request(server, "POST", "/api/runs/run/grid", {"seeds": [5, 9], "label": 2})
    assert status == 200 and data["seeds"] == [5, 9] and data["labels"] == [2, 2]
    assert [_pixels(u).shape for u in data["images"]] == [(16, 16)] * 2
    status, png = _request(server, "GET", "/api/runs/0/image.png?seed=5&label=2&scale=2")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (32, 32)
        # the download shows the same sample as the grid
        small = np.asarray(im.convert("L"), dtype=np.int16)[::2, ::2]
    assert np.array_equal(small, _pixels(data["images"][0]))


def test_training_curves_are_served(server):
    status, data = _request(server, "GET", "/api/runs/0/plots")
    assert status == 200 and data["version"] >= 1
    names = [p["name"] for p in data["plots"]]
    assert "losses" in names and "discriminator" in names
    status, png = _request(server, "GET", data["plots"][0]["url"])
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, data = _request(server, "GET", "/api/runs/0/plots/config.png")
    assert status == 404 and "no such plot" in data["error"]


BAD_REQUESTS = [
    ("/api/runs/0/grid", {"count": 1000}, 400, "count"),
    ("/api/runs/0/grid", {"seeds": [-1]}, 400, "seed"),
    ("/api/runs/0/grid", {"seeds": [2**63]}, 400, "seed"),
    ("/api/runs/0/grid", {"seeds": list(range(65))}, 400, "seeds"),
    ("/api/runs/0/grid", {"truncation": 100}, 400, "truncation"),
    ("/api/runs/0/grid", '{"truncation": NaN}', 400, "NaN"),
    ("/api/runs/0/grid", {"label": 10}, 400, "label"),
    ("/api/runs/0/grid", {"label": "3"}, 400, "label"),
    ("/api/runs/0/grid", {"path": "/etc/passwd"}, 400, "unknown field"),
    ("/api/runs/0/grid", {"directions": {"nope.0": 1}}, 400, "unknown direction"),
    ("/api/runs/0/grid", {"directions": {"principal-c3.0": 1e9}}, 400, "amount"),
    ("/api/runs/0/grid", {"codes": {"cat": 1}}, 400, "code"),
    ("/api/runs/0/grid", "not json", 400, "JSON"),
    ("/api/runs/0/grid", [1, 2], 400, "JSON object"),
    ("/api/runs/0/interpolate", {"a": {"seed": 1}, "b": {"seed": 2}, "steps": 1}, 400, "steps"),
    ("/api/runs/0/interpolate", {"a": {"seed": 1}, "b": 7}, 400, "pick"),
    ("/api/runs/0/interpolate", {"a": {"seed": 1}, "b": {"seed": 2}, "slerp": "yes"}, 400, "slerp"),
    ("/api/runs/0/arithmetic", {"a": [{"seed": 1}] * 17, "b": [{"seed": 1}], "c": [{"seed": 1}]}, 400, "a must"),
    ("/api/runs/0/arithmetic", {"a": [], "b": [{"seed": 1}], "c": [{"seed": 1}]}, 400, "a must"),
    ("/api/runs/0/explode", {}, 404, "unknown operation"),
    ("/api/runs/7/grid", {}, 404, "no served run"),
    ("/api/runs/..%2F..%2Fetc/grid", {}, 404, ""),
    ("/api/runs/%2Ftmp%2Frun/grid", {}, 404, ""),
]


@pytest.mark.parametrize("path, body, status, message", BAD_REQUESTS)
def test_bad_requests_get_4xx_with_a_message(server, path, body, status, message):
    got, data = _request(server, "POST", path, body, {"Content-Type": "application/json"})
    assert got == status and isinstance(data, dict) and message in data["error"]


@pytest.mark.parametrize("query, message", [
    ("seed=-5", "seed"), ("seed=abc", "seed"), ("scale=100", "scale"), ("truncation=inf", "truncation"),
    ("label=99", "label"), ("file=/etc/passwd", "unknown parameter"),
])
def test_bad_download_parameters(server, query, message):
    status, data = _request(server, "GET", f"/api/runs/0/image.png?{query}")
    assert status == 400 and message in data["error"]


def test_other_host_names_are_refused(server):
    """Bound to 127.0.0.1, the server answers only to loopback names (no DNS rebinding)."""
    status, _ = _request(server, "GET", "/api/runs", headers={"Host": "attacker.example"})
    assert status == 400
    assert _request(server, "GET", "/api/runs", headers={"Host": f"localhost:{server}"})[0] == 200


def test_oversized_requests_are_refused_and_the_server_goes_on(server):
    # A declared length over the limit is refused before any body is read.
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    conn.putrequest("POST", "/api/runs/0/grid")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(100 * MAX_BODY))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "too large" in json.loads(response.read())["error"]
    conn.close()
    # A chunked body without a declared length is cut off once it passes the limit.
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    chunks = (b"[" + b"1," * 2000 for _ in range(8))  # 8 x 4 KB, over the 16 KB limit
    conn.request("POST", "/api/runs/0/grid", body=chunks, encode_chunked=True,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 413 and "too large" in json.loads(response.read())["error"]
    conn.close()
    # Still serving, and still correct.
    status, data = _request(server, "POST", "/api/runs/0/grid", {"seeds": [1]})
    assert status == 200 and len(data["images"]) == 1

