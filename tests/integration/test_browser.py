"""The bundled test page (resources/web/index.html) in headless Chromium, against the real app.

Chromium is driven over the DevTools Protocol (tests/integration/_chromium.py), so no
Selenium/Playwright is needed; only the Debian ``chromium`` package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from static_server import serve_static
from websockets.sync.client import connect

from codette_desktop import PROTOCOL_VERSION, __version__

from _chromium import Chromium, Page, find_chromium
from app_process import AppProcess, running_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed"),
]

CLIENT_ID = re.compile(r"^c\d+-[0-9a-f]{6}$")


def state(page: Page) -> str:
    return str(page.evaluate("document.querySelector('#status').dataset.state"))


def wait_state(page: Page, wanted: str, timeout: float = 15.0) -> None:
    page.wait_for(f"document.querySelector('#status').dataset.state === '{wanted}'",
                  timeout, what=f"#status to be {wanted}")


def last_answer(page: Page, timeout: float = 30.0) -> dict[str, str]:
    """Wait until the newest assistant/error bubble is final; return its data and text."""
    answer: dict[str, str] = page.wait_for(
        """(() => {
          const all = document.querySelectorAll('#chat-log .msg.assistant, #chat-log .msg.error');
          const el = all[all.length - 1];
          if (!el || el.dataset.pending !== 'false') return null;
          return {role: el.dataset.role, text: el.querySelector('.text').textContent,
                  confidence: el.dataset.confidence || '', chunks: el.dataset.chunks || '0',
                  count: String(all.length)};
        })()""", timeout, what="a chat answer in #chat-log")
    return answer


def server_perspectives(ws_url: str) -> list[str]:
    with connect(ws_url, proxy=None, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connection"
        ws.send(json.dumps({"type": "perspectives", "id": 1}))
        reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "perspectives_response", reply
    return [p["name"] for p in reply["perspectives"]]


def test_page_connects_pings_and_chats(app_server: AppProcess, tmp_path: Path) -> None:
    app = app_server
    with Chromium(tmp_path) as browser:
        expected_perspectives = server_perspectives(app.ws_url)
        page = browser.new_page()
        page.navigate(f"{app.http_base}/")
        wait_state(page, "connected")

        client_id = page.wait_for("document.querySelector('#welcome').dataset.clientId",
                                  what="the welcome's client id")
        assert CLIENT_ID.match(client_id), client_id
        # The id shown is the one the server gave this very connection.
        app.wait_for_line(rf"WebSocket connected: {re.escape(client_id)} ")
        assert page.evaluate("document.querySelector('#welcome-version').textContent") \
            == __version__
        assert page.evaluate("document.querySelector('#welcome-protocol').textContent") \
            == PROTOCOL_VERSION
        assert page.evaluate("document.querySelector('#welcome-url').textContent") \
            == app.ws_url

        ping_ms = page.wait_for(
            "(() => { const v = parseFloat(document.querySelector('#ping-ms').textContent);"
            " return Number.isFinite(v) ? v : null; })()", what="a ping time in #ping-ms")
        assert 0 <= ping_ms < 5000

        options = page.wait_for(
            "(() => { const o = [...document.querySelectorAll('#perspective option')]"
            ".map(o => o.value); return o.length > 1 ? o : null; })()",
            what="perspectives in the select")
        assert options == expected_perspectives

        page.wait_for("!!document.querySelector('#server-status [data-field=version]')",
                      what="the status panel")
        status = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#server-status dd')]"
            ".map(d => [d.dataset.field, d.textContent]))")
        assert status["status"] == "ok"
        assert status["version"] == __version__
        assert status["protocol_version"] == PROTOCOL_VERSION
        assert int(status["active_connections"]) >= 1
        assert status["codette_available"] == "true"

        # A question typed and sent as a user would.
        page.type_text("#chat-input", "how do I EQ vocals")
        page.click("#chat-send")
        answer = last_answer(page)
        assert answer["role"] == "assistant", answer
        assert len(answer["text"].strip()) > 20, answer
        assert 0.0 <= float(answer["confidence"]) <= 1.0
        assert page.evaluate("document.querySelector('#chat-input').value") == ""
        users = page.evaluate(
            "[...document.querySelectorAll('#chat-log .msg.user')].map(e => e.textContent)")
        assert users == ["how do I EQ vocals"]

        # Streaming: chunks arrive first, then the final chat_response replaces them.
        page.click("#chat-stream")
        page.type_text("#chat-input", "what about compression on drums?")
        page.click("#chat-send")
        streamed = page.wait_for(
            "(() => { const a = document.querySelectorAll('#chat-log .msg.assistant');"
            " const el = a[a.length - 1]; return a.length === 2 && el.dataset.pending === "
            "'false' ? {text: el.querySelector('.text').textContent, "
            "chunks: Number(el.dataset.chunks || 0)} : null; })()",
            timeout=30, what="the streamed answer")
        assert streamed["chunks"] >= 1, streamed
        assert streamed["text"].strip(), streamed

        assert page.exceptions() == []
        # No failed loads (favicon included), CSP violations or console errors.
        page.evaluate("1")  # collect the events that arrived since the last command
        assert page.console_errors() == []
        page.screenshot(tmp_path / "test-page.png")


def test_page_shows_closed_and_reconnects(tmp_path: Path) -> None:
    with Chromium(tmp_path) as browser:
        page = browser.new_page()
        with running_app(tmp_path / "data") as app:
            port = app.port
            page.navigate(f"{app.http_base}/")
            wait_state(page, "connected")
            first_id = page.wait_for("document.querySelector('#welcome').dataset.clientId")
            assert page.evaluate("document.querySelector('#reconnect').hidden") is True
        # The app stopped (SIGTERM): the page must say so and offer to reconnect.
        wait_state(page, "closed")
        assert page.evaluate("document.querySelector('#reconnect').hidden") is False
        assert page.evaluate("document.querySelector('#chat-send').disabled") is True
        detail = page.evaluate("document.querySelector('#status-detail').textContent")
        assert "code 1001" in detail, detail  # 1001: server shutting down

        with running_app(tmp_path / "data", ("--headless", "--port", str(port))):
            assert state(page) == "closed"  # no reconnect until asked
            page.click("#reconnect")
            wait_state(page, "connected")
            second_id = page.wait_for(
                f"(() => {{ const id = document.querySelector('#welcome').dataset.clientId;"
                f" return id && id !== {json.dumps(first_id)} ? id : null; }})()",
                what="a new client id after reconnecting")
            assert CLIENT_ID.match(second_id)
            assert page.evaluate("document.querySelector('#chat-send').disabled") is False
        assert page.exceptions() == []


def test_page_passes_its_token_on(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", env={"CODETTE_AUTH_TOKEN": "s3cret"}) as app, \
            Chromium(tmp_path) as browser:
        page = browser.new_page()
        page.navigate(f"{app.http_base}/")
        wait_state(page, "closed")  # its own origin is allowed, but the token is missing
        page.navigate(f"{app.http_base}/?token=s3cret")
        wait_state(page, "connected")
        assert page.evaluate("document.querySelector('#welcome-url').textContent") \
            == f"{app.ws_url}?token=…"  # never shown in clear


PROBE_PAGE = """<!doctype html><title>probe</title><script>
window.probe = {opened: false, errored: false, closed: false, code: null, first: null};
const ws = new WebSocket(new URLSearchParams(location.search).get('ws'));
ws.onopen = () => { probe.opened = true; };
ws.onmessage = (e) => { if (!probe.first) probe.first = JSON.parse(e.data).type; ws.close(); };
ws.onerror = () => { probe.errored = true; };
ws.onclose = (e) => { probe.closed = true; probe.code = e.code; };
</script>"""


def run_probe(page: Page, origin: str, ws_url: str) -> dict[str, object]:
    page.navigate(f"{origin}/probe?ws={ws_url}")
    result: dict[str, object] = page.wait_for(
        "window.probe && window.probe.closed ? window.probe : null",
        what=f"the probe from {origin} to finish")
    return result


def test_page_from_a_disallowed_origin_cannot_connect(tmp_path: Path) -> None:
    with serve_static(PROBE_PAGE.encode()) as allowed, serve_static(PROBE_PAGE.encode()) as denied:
        env = {"CODETTE_ALLOWED_ORIGINS": allowed}  # only this other origin is allowed
        args = ("--headless", "--port", "0", "--log-level", "DEBUG")
        with running_app(tmp_path / "data", args, env=env) as app, \
                Chromium(tmp_path) as browser:
            page = browser.new_page()
            # Control: the same probe from an allowed origin connects and gets the welcome.
            ok = run_probe(page, allowed, app.ws_url)
            assert ok["opened"] is True and ok["first"] == "connection", ok

            assert not any("refused GET /ws" in line for line in app.lines)
            result = run_probe(page, denied, app.ws_url)
            assert result["opened"] is False, result
            assert result["errored"] is True, result
            assert result["code"] == 1006, result
            assert result["first"] is None, result
            # The server refused the handshake itself (403), rather than the browser, and
            # says why in its log.
            app.wait_for_line(rf"WARNING .*refused GET /ws: Origin '{denied}' is not in "
                              r"allowed_origins \(HTTP 403\)")
