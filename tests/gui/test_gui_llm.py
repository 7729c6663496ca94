"""The local model in the desktop UI: the dashboard's "Answers" line and the Settings
dialog's "Test connection", on a real CodetteService and qasync loop, against llama.cpp's
server with SmolLM2-135M (scripts/setup-llm-server.sh). The tiny model's answers are not
expected to be good; what is tested is what the UI shows about it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_support import settings_for, wait_for
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import connect

from codette_desktop.config import Settings
from codette_desktop.protocol.events import LLMStatusChanged
from codette_desktop.ui.dashboard import answers_text
from codette_desktop.ui.desktop import DesktopUI

from llm_server import APP_TEST_THREADS, MODEL_ALIAS, LLMServer, free_port, running_llm_server

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, ui

pytestmark = [pytest.mark.llm, pytest.mark.slow]


@pytest.fixture(scope="module")
def model(llm_server_paths: tuple[Path, Path]) -> Iterator[LLMServer]:
    with running_llm_server(llm_server_paths, threads=APP_TEST_THREADS) as server:
        yield server


@pytest.fixture
def app_settings(tmp_path: Path, model: LLMServer) -> Settings:
    """codette_app (gui_fixtures) with the model configured."""
    return settings_for(tmp_path, llm_url=model.base_url, llm_timeout_s=120)


@pytest.mark.parametrize(("status", "text"), [
    (LLMStatusChanged(engine="builtin"), "built-in"),
    (LLMStatusChanged(engine="llm", url="http://127.0.0.1:11434/v1"),
     "the server’s first model via http://127.0.0.1:11434/v1 — not asked yet"),
    (LLMStatusChanged(engine="llm", url="http://h:1234/v1", model="qwen", reachable=True,
                      tokens_per_s=41.6, first_token_s=2.34),
     "qwen via http://h:1234/v1 — reachable, 42 tok/s, first token 2.3 s"),
    (LLMStatusChanged(engine="llm", url="http://h:8080/v1", model="m", reachable=False,
                      last_error="connection refused at http://h:8080/v1"),
     "m via http://h:8080/v1 — unreachable; built-in answers: connection refused at "
     "http://h:8080/v1"),
])
def test_answers_text(status: LLMStatusChanged, text: str) -> None:
    assert answers_text(status) == text


def test_the_dashboard_shows_which_engine_answers_and_how_the_model_does(
        codette_app: Any, ui: DesktopUI, model: LLMServer,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    line = ui.dashboard.server_panel.answers

    async def chat(url: str) -> dict[str, Any]:
        async with connect(url) as ws:
            await ws.recv()  # welcome
            await ws.send(json.dumps({"type": "chat", "id": 1, "stream": True,
                                      "message": "How do I compress a lead vocal?"}))
            while (reply := json.loads(await ws.recv()))["type"] != "chat_response":
                pass
            return reply

    async def scenario() -> None:
        assert line.text() == f"the server’s first model via {model.base_url} — not asked yet"
        await codette_app.service.start()
        reply = await asyncio.wait_for(chat(ui.bridge.url), 300)
        assert reply["engine"] == "llm"
        await wait_for(lambda: "tok/s" in line.text(), what="the model's speed")
        assert line.text().startswith(f"{MODEL_ALIAS} via {model.base_url} — reachable, ")
        assert "built-in answers" not in line.text()
        # A model server that is not there: the built-in engine answers, the line says why.
        gone = f"http://127.0.0.1:{free_port()}/v1"
        ui.apply_settings(ui.bridge.settings.replace(llm_url=gone, llm_model="m"))
        assert line.text() == f"m via {gone} — not asked yet"
        reply = await asyncio.wait_for(chat(ui.bridge.url), 60)
        assert reply["engine"] == "builtin"
        await wait_for(lambda: "unreachable" in line.text(), what="the failure")
        assert line.text().endswith(f"built-in answers: connection refused at {gone}")
        ui.apply_settings(ui.bridge.settings.replace(llm_url=""))
        assert line.text() == "built-in"

    ui.dashboard.show()
    qasync_loop.run_until_complete(scenario())


def test_test_connection_lists_the_models_or_says_what_failed_without_blocking(
        qtbot: QtBot, ui: DesktopUI, model: LLMServer,
        qasync_loop: asyncio.AbstractEventLoop) -> None:
    ui.open_settings()
    dialog = ui.settings_dialog
    assert dialog is not None
    assert dialog.llm_url.text() == model.base_url
    assert dialog.llm_api_key.echoMode() is QLineEdit.EchoMode.Password
    result = dialog.test_result
    ticks = []
    ticker = QTimer()
    ticker.setInterval(10)
    ticker.timeout.connect(lambda: ticks.append(1))

    async def test_connection(url: str, what: str) -> None:
        dialog.llm_url.setText(url)
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        assert not dialog.test_button.isEnabled()
        await wait_for(lambda: dialog.test_button.isEnabled(), timeout=30, what=what)

    async def scenario() -> None:
        await test_connection(model.base_url, "the model list")
        assert result.text() == f"Connected: 1 model(s): {MODEL_ALIAS}"
        assert [dialog.llm_model.itemText(i) for i in range(dialog.llm_model.count())] \
            == [MODEL_ALIAS]
        refused = f"http://127.0.0.1:{free_port()}/v1"
        await test_connection(refused, "the refusal")
        assert result.text() == f"Failed: connection refused at {refused}"
        # A server that accepts and never answers: the GUI keeps running meanwhile.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
            dialog.llm_timeout.setValue(2)
            ticker.start()
            await test_connection(url, "the timeout")
            ticker.stop()
        assert result.text() == f"Failed: no answer from {url} within 2 s"
        assert len(ticks) > 100  # a 10 ms Qt timer kept firing through the 2 s wait
        dialog.llm_url.setText("")
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        assert result.text() == "Enter the model server's URL first."

    qasync_loop.run_until_complete(scenario())
    # The form's values are the settings OK would save (the key masked, never echoed).
    dialog.llm_url.setText(model.base_url)
    dialog.llm_model.setCurrentText(MODEL_ALIAS)
    dialog.llm_api_key.setText("sk-local-1")
    dialog.llm_timeout.setValue(45)
    new = dialog.validated()
    assert (new.llm_url, new.llm_model, new.llm_api_key, new.llm_timeout_s) == (
        model.base_url, MODEL_ALIAS, "sk-local-1", 45.0)
    assert "sk-local-1" not in repr(new)
    dialog.llm_api_key.setText("")
    assert dialog.validated().llm_api_key is None
