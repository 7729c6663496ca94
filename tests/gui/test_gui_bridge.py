"""The Qt bridge fed with real events through the real ObserverHub (offscreen)."""

from __future__ import annotations

import threading
from typing import Any

from gui_support import message
from pytestqt.qtbot import QtBot

from codette_desktop.config import Settings
from codette_desktop.protocol import events
from codette_desktop.qt.bridge import MAX_PENDING_MESSAGES, ServiceBridge, needs_restart

pytest_plugins = ["gui_fixtures"]  # qasync_loop, codette_app, x_display, tray_host


def test_messages_are_batched_into_one_signal(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    batches: list[list[events.MessageLogged]] = []
    bridge.messages_logged.connect(batches.append)
    for n in range(1000):
        codette_app.hub(message(n))
    assert batches == [], "nothing is emitted per message"
    assert bridge.flush_pending
    qtbot.waitUntil(lambda: len(batches) == 1, timeout=2000)
    assert [m.size - 20 for m in batches[0]] == list(range(1000))
    assert not bridge.flush_pending, "idle again: no timer runs"
    bridge.close()


def test_no_timer_runs_without_messages(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    codette_app.hub(events.AnalysisWarmedUp(seconds=1.5))
    codette_app.hub(events.ServerStopped(reason="test"))
    assert not bridge.flush_pending
    bridge.close()
    codette_app.hub(message(1))
    assert not bridge.flush_pending, "closed: no longer observing"


def test_pending_messages_are_bounded(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    batches: list[list[events.MessageLogged]] = []
    bridge.messages_logged.connect(batches.append)
    for n in range(MAX_PENDING_MESSAGES + 700):
        codette_app.hub(message(n))
    bridge.flush()
    assert len(batches[0]) == MAX_PENDING_MESSAGES
    assert batches[0][0].size - 20 == 700, "the oldest were dropped"
    assert bridge.dropped_messages == 700
    bridge.close()


def test_events_become_signals(qtbot: QtBot, codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    hub = codette_app.hub
    with qtbot.waitSignal(bridge.server_failed) as failed:
        hub(events.ServerFailed(message="boom", port=8000))
    assert failed.args == ["boom"]
    assert bridge.last_error == "boom"
    with qtbot.waitSignals([bridge.server_started, bridge.state_changed]):
        hub(events.ServerStarted(url="ws://127.0.0.1:1/ws", host="127.0.0.1", port=1))
    assert bridge.last_error is None
    chat = events.ChatExchanged(client_id="c1", session_id="s", perspective="mix_engineering",
                                question="q", answer="a", confidence=0.5)
    with qtbot.waitSignal(bridge.chat_exchanged) as got:
        hub(chat)
    assert got.args == [chat]
    with qtbot.waitSignal(bridge.analysis_warmed_up) as warmed:
        hub(events.AnalysisWarmedUp(seconds=2.5))
    assert warmed.args == [2.5]
    with qtbot.waitSignals([bridge.capture_state_changed, bridge.state_changed]):
        hub(events.CaptureStateChanged(state="running", device="Null", started_by=None))
    assert bridge.capture_state == "running"
    levels = events.LevelsMeasured(peak_dbfs=(-3.0, -4.0), rms_dbfs=(-12.0, -13.0),
                                   momentary_lufs=-14.0, short_term_lufs=-15.0, overflows=0,
                                   at=0.0)
    with qtbot.waitSignal(bridge.levels_measured) as got_levels:
        hub(levels)
    assert got_levels.args == [levels]
    bridge.close()


def test_events_from_another_thread_arrive_on_the_gui_thread(qtbot: QtBot,
                                                            codette_app: Any) -> None:
    bridge = ServiceBridge(codette_app.service, codette_app.hub)
    seen: list[int] = []
    bridge.levels_measured.connect(lambda _e: seen.append(threading.get_ident()))
    bridge.messages_logged.connect(lambda _b: seen.append(threading.get_ident()))
    levels = events.LevelsMeasured(peak_dbfs=(-3.0,), rms_dbfs=(-9.0,), momentary_lufs=None,
                                   short_term_lufs=None, overflows=0, at=0.0)

    def report() -> None:
        codette_app.hub(levels)
        codette_app.hub(message(1))

    worker = threading.Thread(target=report)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    assert set(seen) == {threading.get_ident()}
    bridge.close()


def test_needs_restart_only_for_what_the_server_reads_at_start(tmp_path: Any) -> None:
    base = Settings(data_dir=tmp_path)
    assert needs_restart(base, base.replace(port=9000))
    # Origins, hosts and the token are read by every request: they apply live.
    assert not needs_restart(base, base.replace(allowed_origins=("http://localhost:1",)))
    assert not needs_restart(base, base.replace(auth_token="s3cret"))
    assert needs_restart(base, base.replace(status_interval_s=5.0))
    assert not needs_restart(base, base.replace(start_minimised=True))
    assert not needs_restart(base, base.replace(start_at_login=True))
