"""Headless Chromium driven over the Chrome DevTools Protocol, with no extra dependency.

Chromium is started with ``--remote-debugging-port=0``; the port it picked is read from
the ``DevToolsActivePort`` file in its profile folder, and each page is driven over its
own DevTools WebSocket (``/devtools/page/<id>``) with the ``websockets`` sync client.

    with Chromium(tmp_path) as browser:
        page = browser.new_page()
        page.navigate("http://127.0.0.1:8000/")
        page.wait_for("document.title !== ''")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

POLL_S = 0.05
COMMAND_TIMEOUT_S = 15.0
START_TIMEOUT_S = 30.0
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    override = os.environ.get("CODETTE_CHROMIUM")
    if override:
        return override
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class JavaScriptError(AssertionError):
    pass


class Page:
    """One tab. Every CDP event received while waiting is kept in ``events``."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = COMMAND_TIMEOUT_S, **params: Any) -> Any:
        self._next_id += 1
        command_id = self._next_id
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {method} within {timeout} s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise JavaScriptError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0, what: str = "") -> Any:
        """Poll ``expression`` every 50 ms until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or expression!r} "
                    f"(last value {value!r}); page errors: {self.exceptions()}")
            time.sleep(POLL_S)

    def navigate(self, url: str, timeout: float = 15.0) -> None:
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise AssertionError(f"cannot load {url}: {result['errorText']}")
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === "
                      "'complete'", timeout, what=f"{url} to load")

    def click(self, selector: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def type_text(self, selector: str, text: str) -> None:
        """Focus the element and type as a user would (input events included)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def console_errors(self) -> list[str]:
        """Error entries of the browser log: failed loads, CSP violations, console.error."""
        texts = [
            f"{e['params']['entry'].get('url', '')}: {e['params']['entry']['text']}"
            for e in self.events
            if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
        ]
        texts += [
            " ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"])
            for e in self.events
            if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error"
        ]
        return texts

    def exceptions(self) -> list[str]:
        """Uncaught page exceptions seen so far (needs ``Runtime.enable``)."""
        return [
            e["params"]["exceptionDetails"].get("exception", {}).get("description")
            or e["params"]["exceptionDetails"].get("text", "")
            for e in self.events if e.get("method") == "Runtime.exceptionThrown"
        ]


class Chromium:
    def __init__(self, tmp_path: Path, executable: str | None = None) -> None:
        exe = executable or find_chromium()
        if exe is None:
            raise FileNotFoundError("Chromium not found (install the chromium package)")
        self.executable = exe
        self.profile = tmp_path / "chromium-profile"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._stack = contextlib.ExitStack()  # the pages' DevTools connections

    def __enter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--no-default-browser-check",
                "--no-proxy-server", "--disable-extensions", "--window-size=1200,1000",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes share our child's group
        )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (active.exists() and active.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise TimeoutError("Chromium did not open its DevTools port")
            time.sleep(POLL_S)
        self.port = int(active.read_text().split()[0])
        return self

    def new_page(self) -> Page:
        target = self._browser_command("Target.createTarget", url="about:blank")
        ws = self._stack.enter_context(connect(
            f"ws://127.0.0.1:{self.port}/devtools/page/{target['targetId']}",
            max_size=None, proxy=None, open_timeout=COMMAND_TIMEOUT_S))
        page = Page(ws)
        page.send("Runtime.enable")
        page.send("Page.enable")
        page.send("Log.enable")
        return page

    def _browser_command(self, method: str, **params: Any) -> Any:
        version = (self.profile / "DevToolsActivePort").read_text().split()[1]
        with connect(f"ws://127.0.0.1:{self.port}{version}", max_size=None, proxy=None,
                     open_timeout=COMMAND_TIMEOUT_S) as ws:
            return Page(ws).send(method, **params)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        # Helper processes that outlived the browser (same group, started by us).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
