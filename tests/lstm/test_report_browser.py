"""The report page in headless Chromium, driven over the DevTools protocol: every image loads,
no console or network error, nothing requested from the network. Chromium is Debian's
`chromium`, installed by the fixture when missing (as root, with apt-get), else skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium: installed with apt-get (as root, with a timeout) when missing."""
    path = shutil.which("chromium")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True,
                           capture_output=True, timeout=600,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip(f"chromium is not installed and apt-get install failed: {e}")
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and "
                    "apt-get: apt-get install -y chromium)")
    return path


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--remote-debugging-pipe"]
IMAGES_JS = ("JSON.stringify(Array.from(document.images).map("
             "i => [i.src, i.complete, i.naturalWidth]))")


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe: chromium reads commands on
    its fd 3 and writes replies and events on its fd 4, each a JSON message ended by a NUL."""

    def __init__(self, chromium: str, profile: Path):
        import fcntl

        to_browser, from_browser = os.pipe(), os.pipe()
        # move the ends the child keeps above 4 so dup2 onto 3 and 4 cannot clobber them
        child_in = fcntl.fcntl(to_browser[0], fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser[1], fcntl.F_DUPFD, 10)
        for fd in (to_browser[0], from_browser[1]):
            os.close(fd)

        def wire():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4, child_in, child_out))
        os.close(child_in)
        os.close(child_out)
        self.write_fd, self.read_fd = to_browser[1], from_browser[0]
        self.buffer, self.events, self.next_id = b"", [], 0

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m: m.get("id") == self.next_id, timeout)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply.get("result", {})

    def wait(self, match, timeout: float) -> dict:
        import select

        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    return message
                self.events.append(message)
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.read_fd], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"no matching DevTools message within {timeout} s")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, AssertionError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


def load_page(chromium: str, page: Path, profile: Path) -> dict:
    """Open `page` in a fresh tab; its images (src, complete, naturalWidth), console and log
    errors, uncaught exceptions, and every URL it requested."""
    browser = DevTools(chromium, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target,
                                                         "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        loaded = browser.wait(lambda m: m.get("method") == "Page.loadEventFired"
                              and m.get("sessionId") == session, timeout=60)
        images = browser.send("Runtime.evaluate", {"expression": IMAGES_JS,
                                                   "returnByValue": True}, session=session)
        events = [e for e in browser.events if e.get("sessionId") == session]
    finally:
        browser.close()
    errors, requests = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(params["args"])
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"])
        elif method == "Network.loadingFailed":
            errors.append(params)
        elif method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
    return {"loaded": bool(loaded), "images": json.loads(images["result"]["value"]),
            "errors": errors, "requests": requests}


def test_page_renders_in_chromium(tiny_report, report_expectations, chromium, tmp_path):
    outcome = load_page(chromium, tiny_report["path"], tmp_path / "profile")
    assert outcome["loaded"], outcome
    images = outcome["images"]
    assert {Path(src).name for src, _, _ in images} == report_expectations["figures"]
    broken = [src for src, complete, width in images if not complete or width <= 0]
    assert broken == [], f"images that did not load: {broken}"
    assert outcome["errors"] == [], f"console errors: {outcome['errors']}"
    assert outcome["requests"] and all(u.startswith("file://") for u in outcome["requests"]), \
        outcome["requests"]


def test_browser_check_catches_broken_pages(chromium, tmp_path):
    """The harness itself: a missing image, a console error, a thrown exception and a network
    request are all reported (so the test above cannot pass by seeing nothing)."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png">'
                    '<img src="http://127.0.0.1:9/remote.png">'
                    "<script>console.error('boom'); throw new Error('thrown');</script>"
                    "</body></html>", encoding="utf-8")
    outcome = load_page(chromium, page, tmp_path / "profile")
    assert outcome["loaded"]
    assert [width for _, _, width in outcome["images"]] == [0, 0]
    text = json.dumps(outcome["errors"])
    assert "boom" in text and "thrown" in text and "missing.png" in text
    assert "http://127.0.0.1:9/remote.png" in outcome["requests"]
