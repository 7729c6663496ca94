"""The desktop UI on a real CodetteService on a qasync loop, with real websockets clients."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from gui_support import wait_for
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codette_desktop.errors import AddressInUseError
from codette_desktop.ui.desktop import DesktopUI
from codette_desktop.ui.models import ConnectionsModel


async def open_client(url: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(url, open_timeout=10, **kwargs)
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "connection"
    return ws


async def closed_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    return info.value.rcvd.code if info.value.rcvd is not None else None

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


def test_a_client_appears_in_the_connections_table_and_can_be_disconnected(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    dashboard = ui.dashboard
    model = dashboard.connections_model

    async def scenario() -> None:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url, origin="http://localhost:5173")
        other = await open_client(ui.bridge.url)
        await wait_for(lambda: model.rowCount() == 2, what="two rows")
        row = model.row_of(model.client_ids()[0])
        assert model.data(model.index(row, 2)) == "http://localhost:5173"
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        assert json.loads(await ws.recv())["type"] == "pong"
        # Counters come from the server's snapshot after the next batch.
        await wait_for(lambda: model.data(model.index(row, 4)) == "1"
                       and model.data(model.index(row, 6)) == "ping", what="counters")
        await wait_for(lambda: dashboard.log_model.rowCount() >= 4, what="log rows")
        assert {"ping", "pong", "connection"} <= dashboard.log_model.types
        # Click the row's Disconnect button.
        view = dashboard.connections_view
        rect = view.visualRect(model.index(row, ConnectionsModel.DISCONNECT_COLUMN))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert await closed_code(ws) == 1000
        await wait_for(lambda: model.rowCount() == 1, what="the row to go")
        await other.close()
        await wait_for(lambda: model.rowCount() == 0, what="no rows")

    dashboard.show()
    qasync_loop.run_until_complete(scenario())


def test_the_dashboard_sees_every_message_of_a_burst(
        codette_app: Any, ui: DesktopUI, qasync_loop: asyncio.AbstractEventLoop) -> None:
    """50 pings written at once (one read on the server: some answered inline, the rest
    queued): every one, and every pong, reaches the message log and the counters."""
    dashboard = ui.dashboard
    burst = 50

    async def scenario() -> str:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url)
        for i in range(burst):  # no await between them: all in the socket before a read
            ws.protocol.send_text(json.dumps({"type": "ping", "id": i}).encode())
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        ids = [json.loads(await ws.recv())["id"] for _ in range(burst)]
        assert ids == list(range(burst))
        client_id = dashboard.connections_model.client_ids()[0]
        await wait_for(lambda: len([m for m in dashboard.log_model.messages()
                                    if m.client_id == client_id]) >= 2 * burst + 1,
                       what="every ping and pong in the log")
        model = dashboard.connections_model
        row = model.row_of(client_id)
        await wait_for(lambda: model.data(model.index(row, 4)) == str(burst),
                       what="the connection's message count")
        await ws.close()
        return client_id

    client_id = qasync_loop.run_until_complete(scenario())
    rows = [(m.direction, m.type) for m in dashboard.log_model.messages()
            if m.client_id == client_id]
    assert rows.count(("in", "ping")) == burst
    assert rows.count(("out", "pong")) == burst


def test_settings_change_restarts_the_server_on_the_new_port(
        codette_app: Any, ui: DesktopUI, qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            new_port = probe.getsockname()[1]
        ui.apply_settings(ui.bridge.settings.replace(port=new_port))
        assert await closed_code(ws) == 1001, "clients hear 'going away' on restart"
        await wait_for(lambda: ui.bridge.running and ui.bridge.port == new_port,
                       what="the restart")
        again = await open_client(ui.bridge.url)
        await again.close()
        saved = json.loads(ui.bridge.settings.settings_path.read_text())
        assert saved["port"] == new_port

    qasync_loop.run_until_complete(scenario())


def test_non_restart_settings_keep_clients(codette_app: Any, ui: DesktopUI,
                                           qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url)
        ui.apply_settings(ui.bridge.settings.replace(start_minimised=True))
        await asyncio.sleep(0.2)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        assert codette_app.service.settings.start_minimised
        await ws.close()

    qasync_loop.run_until_complete(scenario())


def test_busy_port_offers_the_next_free_one(codette_app: Any, ui: DesktopUI,
                                            qasync_loop: asyncio.AbstractEventLoop,
                                            tmp_path: Path) -> None:
    async def scenario() -> None:
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            busy = blocker.getsockname()[1]
            settings = ui.bridge.settings.replace(port=busy)
            codette_app.service.settings = settings
            codette_app.service.server.settings = settings
            codette_app.service.server.port = busy
            with pytest.raises(AddressInUseError) as info:
                await codette_app.service.start()
            recovery = asyncio.ensure_future(ui.recover_port_in_use(info.value))
            await wait_for(lambda: ui._port_box is not None and ui._port_box.isVisible(),
                           what="the port dialog")
            box = ui._port_box
            assert box is not None and f"Port {busy}" in box.text()
            suggestion = box.suggestion
            box.use_button.click()
            assert await asyncio.wait_for(recovery, 10) is True
            assert ui.bridge.running and ui.bridge.port == suggestion
            saved = json.loads(settings.settings_path.read_text())
            assert saved["port"] == suggestion

    qasync_loop.run_until_complete(scenario())


def test_busy_port_from_the_start_button_opens_the_dialog(
        codette_app: Any, ui: DesktopUI, qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await codette_app.service.start()
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            busy = blocker.getsockname()[1]
            ui.apply_settings(ui.bridge.settings.replace(port=busy))
            await wait_for(lambda: ui._port_box is not None, what="the port dialog")
            assert not ui.bridge.running
            assert ui.tray is not None and "Error" in ui.tray.tray.toolTip()
            assert ui._port_box is not None
            ui._port_box.cancel_button.click()
            await wait_for(lambda: ui._port_box is None, what="the dialog to close")
            assert not ui.bridge.running

    qasync_loop.run_until_complete(scenario())


def test_tray_stop_and_start(codette_app: Any, ui: DesktopUI,
                             qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        await codette_app.service.start()
        assert ui.tray is not None
        ws = await open_client(ui.bridge.url)
        ui.tray.action_server.trigger()
        assert await closed_code(ws) == 1001
        await wait_for(lambda: not ui.bridge.running, what="stop")
        assert ui.tray.action_server.text() == "Start server"
        ui.tray.action_server.trigger()
        await wait_for(lambda: ui.bridge.running, what="start")
        assert ui.tray.action_server.text() == "Stop server"

    qasync_loop.run_until_complete(scenario())


async def http_get(host: str, port: int, path: str, origin: str | None = None) -> int:
    """One HTTP/1.1 request on the loop (a real socket); returns the status code."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    if origin:
        lines.append(f"Origin: {origin}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    status_line = await asyncio.wait_for(reader.readline(), 10)
    await reader.read()
    writer.close()
    return int(status_line.split()[1])


def test_http_requests_show_in_the_message_log(
        codette_app: Any, ui: DesktopUI, qasync_loop: asyncio.AbstractEventLoop) -> None:
    log_model = ui.dashboard.log_model

    async def scenario() -> None:
        await codette_app.service.start()
        port = ui.bridge.port
        assert await http_get("127.0.0.1", port, "/health",
                              origin="http://localhost:5173") == 200
        assert await http_get("127.0.0.1", port, "/no/such/route") == 404
        await wait_for(lambda: len([m for m in log_model.messages()
                                    if m.direction == "http"]) == 2, what="two HTTP rows")

    qasync_loop.run_until_complete(scenario())
    rows = [m for m in log_model.messages() if m.direction == "http"]
    assert (rows[0].type, rows[0].status, rows[0].client_id) == (
        "GET /health", 200, "HTTP http://localhost:5173")
    assert rows[0].size > 0 and "200 in" in rows[0].preview
    assert (rows[1].type, rows[1].status) == ("GET /no/such/route", 404)
    assert rows[1].client_id.startswith("HTTP native 127.0.0.1:")
    index = log_model.index(log_model.rowCount() - 1, 3)
    assert log_model.data(index, Qt.ItemDataRole.ForegroundRole) is not None  # 404 in red
    assert log_model.data(log_model.index(log_model.rowCount() - 1, 2)) == "⇄"


def test_a_refused_page_can_be_allowed_from_the_prompt(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    from websockets.exceptions import InvalidStatus

    page = "http://localhost:7777"

    async def scenario() -> None:
        await codette_app.service.start()
        with pytest.raises(InvalidStatus) as info:
            await connect(ui.bridge.url, origin=page, open_timeout=10)  # type: ignore[arg-type]
        assert info.value.response.status_code == 403
        await wait_for(lambda: page in ui.origin_prompts, what="the origin prompt")
        prompt = ui.origin_prompts[page]
        assert page in prompt.text()
        # A page retrying in a loop is asked once.
        for _ in range(3):
            with pytest.raises(InvalidStatus):
                await connect(ui.bridge.url, origin=page, open_timeout=10)  # type: ignore[arg-type]
        assert list(ui.origin_prompts) == [page]
        qtbot.mouseClick(prompt.allow_button, Qt.MouseButton.LeftButton)
        await wait_for(lambda: page in ui.bridge.settings.allowed_origins,
                       what="the origin in the settings")
        ws = await open_client(ui.bridge.url, origin=page)  # the next attempt succeeds
        await ws.close()

    qasync_loop.run_until_complete(scenario())
    saved = json.loads(ui.bridge.settings.settings_path.read_text())
    assert page in saved["allowed_origins"]


def test_denying_a_page_keeps_it_out_and_stops_asking(
        qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    page = "http://localhost:7778"

    async def scenario() -> None:
        await codette_app.service.start()
        port = ui.bridge.port
        assert await http_get("127.0.0.1", port, "/codette/status", origin=page) == 403
        await wait_for(lambda: page in ui.origin_prompts, what="the origin prompt")
        qtbot.mouseClick(ui.origin_prompts[page].deny_button, Qt.MouseButton.LeftButton)
        await wait_for(lambda: page not in ui.origin_prompts, what="the prompt to close")
        # The refusal is reported before the 403 is sent (same thread, direct signals),
        # so by now the UI has decided: it does not ask again this session.
        assert await http_get("127.0.0.1", port, "/codette/status", origin=page) == 403
        assert page not in ui.origin_prompts

    qasync_loop.run_until_complete(scenario())
    assert page not in ui.bridge.settings.allowed_origins


async def capture_start(ws: ClientConnection) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "capture_start", "id": "mic"}))
    while (reply := json.loads(await asyncio.wait_for(ws.recv(), 20)))["type"] not in (
            "error", "capture_status"):
        pass
    return reply


@pytest.mark.parametrize("button", ["always_button", "deny_button"])
def test_a_page_asking_for_the_microphone_is_asked_about_and_the_answer_kept(
        button: str, qtbot: QtBot, codette_app: Any, ui: DesktopUI,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    page = "http://localhost:5173"

    async def scenario() -> dict[str, Any]:
        await codette_app.service.start()
        ws = await open_client(ui.bridge.url, origin=page)
        refused = await capture_start(ws)
        assert (refused["type"], refused.get("code")) == ("error", "not_authorized")
        await wait_for(lambda: page in ui.microphone_prompts, what="the microphone prompt")
        prompt = ui.microphone_prompts[page]
        assert f"Allow <b>{page}</b> to use" in prompt.text()
        assert [b.text() for b in prompt.answer_buttons] == ["Allow once", "Always", "Deny"]
        qtbot.mouseClick(getattr(prompt, button), Qt.MouseButton.LeftButton)
        await wait_for(lambda: page not in ui.microphone_prompts, what="the prompt to close")
        again = await capture_start(ws)
        if again["type"] == "capture_status":
            await ws.send(json.dumps({"type": "capture_stop"}))
        await ws.close()
        return again

    again = qasync_loop.run_until_complete(scenario())
    saved = json.loads(ui.bridge.settings.settings_path.read_text())
    if button == "always_button":
        assert page in saved["capture_allowed_origins"]
        # Allowed now: started, or refused for the device, never for permission.
        assert again.get("code") != "not_authorized", again
    else:
        assert page in saved["capture_denied_origins"]
        assert (again["type"], again.get("code")) == ("error", "not_authorized")
        assert page not in ui.microphone_prompts  # a denied page is not asked again
