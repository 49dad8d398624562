"""Open a page in real headless Chromium and report what a user's browser would see.

A small DevTools-protocol client (over ``websocket-client``): it loads a page,
records console errors, uncaught exceptions and every network request, decodes
every image with ``HTMLImageElement.decode()``, and takes screenshots. Chromium
runs with a throw-away profile and every background-network feature off.

Also a tool: ``python tests/chromium.py PAGE.html OUT.png [--width W] [--height H]``
writes a screenshot of the top of the page (how ``docs/report.png`` was made).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
)
START_TIMEOUT = 60.0  # generous: two cores shared by several engineers
CALL_TIMEOUT = 60.0


def find_chromium() -> str | None:
    """Path of a Chromium binary ($FACEPART_CHROMIUM, else the usual names on $PATH), or None."""
    env = os.environ.get("FACEPART_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class PageResult(NamedTuple):
    """What loading a page showed.

    Attributes:
        images: one dict per <img>: alt, width, height (natural size after decoding; 0 when it
            did not decode), error (the decode error, or None), scheme (of its src).
        errors: console errors, log errors and uncaught exceptions, as text.
        requests: URLs the page requested, other than the page itself and data: URLs.
        ids: the id of every element that has one, in document order.
        title: the document title.
    """

    images: list[dict]
    errors: list[str]
    requests: list[str]
    ids: list[str]
    title: str


class Chromium:
    """A headless Chromium with one page, driven over the DevTools protocol (a context manager)."""

    def __init__(self, binary: str, width: int = 1160, height: int = 900):
        self.binary, self.width, self.height = binary, width, height
        self._profile = None
        self._proc = None
        self._ws = None
        self._next_id = 0
        self.events: list[dict] = []

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> "Chromium":
        import websocket  # websocket-client

        self._profile = tempfile.mkdtemp(prefix="facepart-chromium-")
        log = open(Path(self._profile) / "chromium.log", "wb")
        self._proc = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        try:
            port = self._wait_for_port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=CALL_TIMEOUT) as resp:
                targets = json.load(resp)
            page = next(t for t in targets if t.get("type") == "page")
            self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=CALL_TIMEOUT,
                                                   suppress_origin=True)
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:
                pass
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)

    def _wait_for_port(self) -> int:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if marker.is_file():
                lines = marker.read_text().split()
                if lines and lines[0].isdigit():
                    return int(lines[0])
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        log = (Path(self._profile) / "chromium.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Chromium did not open its DevTools port (exit code {self._proc.poll()}):\n{log}")

    # -- protocol ----------------------------------------------------------------------------

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile go to ``events``."""
        self._next_id += 1
        my_id = self._next_id
        self._ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for_event(self, method: str, timeout: float = CALL_TIMEOUT) -> dict:
        for k, event in enumerate(self.events):
            if event["method"] == method:
                return self.events.pop(k)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv())
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(f"no {method} within {timeout:.0f} s")

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    # -- what the tests and tools use ---------------------------------------------------------

    def open(self, path: str | Path) -> PageResult:
        """Load a local HTML file and report its images, errors and network requests."""
        url = Path(path).resolve().as_uri()
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")
        images = self.evaluate("""
            Promise.all(Array.from(document.images).map(img =>
                img.decode().then(() => null, e => String(e)).then(error => ({
                    alt: img.alt, width: img.naturalWidth, height: img.naturalHeight, error: error,
                    scheme: img.currentSrc.split(':')[0]}))))""")
        ids = self.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
        title = self.evaluate("document.title")
        self.call("Runtime.evaluate", expression="0")  # flush events queued behind the evaluations
        errors, requests = [], []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console." + params["type"] + ": "
                              + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                request_url = params.get("request", {}).get("url", "")
                if request_url != url and not request_url.startswith("data:"):
                    requests.append(request_url)
            elif method == "Network.loadingFailed":
                errors.append(f"network: {params.get('errorText')} ({params.get('type')})")
        return PageResult(images, errors, requests, ids, title)

    def screenshot(self, out: str | Path, height: int | None = None, scale: float = 1.0) -> Path:
        """PNG of the top ``height`` CSS pixels of the page (default: all) at the window width, times ``scale``."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        full = int(size["height"])
        clip = {"x": 0, "y": 0, "width": self.width, "height": min(full, height or full), "scale": scale}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        out = Path(out)
        out.write_bytes(base64.b64decode(data))
        return out


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Screenshot the top of a local HTML page with headless Chromium.")
    ap.add_argument("page")
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1160)
    ap.add_argument("--height", type=int, default=None, help="CSS pixels from the top (default: the whole page)")
    ap.add_argument("--scale", type=float, default=1.0, help="image pixels per CSS pixel")
    args = ap.parse_args(argv)
    binary = find_chromium()
    if binary is None:
        raise SystemExit("no Chromium binary found (apt-get install chromium)")
    with Chromium(binary, width=args.width) as browser:
        result = browser.open(args.page)
        if result.errors:
            raise SystemExit("the page logged errors: " + "; ".join(result.errors))
        print(browser.screenshot(args.out, args.height, args.scale))


if __name__ == "__main__":
    main()
