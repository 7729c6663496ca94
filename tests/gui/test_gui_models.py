"""The dashboard's item models: ring bound, batching, filters, connection rows (offscreen)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from gui_support import message
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from codette_desktop.protocol.events import ClientConnected
from codette_desktop.ui.models import (
    ConnectionsModel,
    MessageFilterModel,
    MessageLogModel,
    human_size,
)


class Recorder:
    """Counts the model's change notifications (one pair per batch is the point)."""

    def __init__(self, model: Any) -> None:
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))


def test_batch_is_one_insert_notification(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=100)
    rec = Recorder(model)
    model.append_batch([message(n) for n in range(40)])
    assert model.rowCount() == 40
    assert rec.inserted == [(0, 39)]
    assert rec.removed == []
    model.append_batch([])
    assert rec.inserted == [(0, 39)]


def test_ring_keeps_the_newest_rows_in_order(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=100)
    rec = Recorder(model)
    for start in range(0, 250, 30):
        model.append_batch([message(n) for n in range(start, min(start + 30, 250))])
    assert model.rowCount() == 100
    assert model.total == 250
    sizes = [m.size - 20 for m in model.messages()]
    assert sizes == list(range(150, 250))
    # Every overflowing batch removed from the top once and appended once.
    assert all(first == 0 for first, _ in rec.removed)
    assert len(rec.inserted) == 9


def test_batch_larger_than_the_ring_keeps_its_tail(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=50)
    model.append_batch([message(n) for n in range(10)])
    model.append_batch([message(n) for n in range(10, 500)])
    assert model.rowCount() == 50
    assert [m.size - 20 for m in model.messages()] == list(range(450, 500))
    assert model.total == 500


def test_default_capacity_is_5000_and_memory_is_bounded(qtbot: QtBot) -> None:
    model = MessageLogModel()
    assert model.capacity == 5000
    for start in range(0, 20_000, 1000):
        model.append_batch([message(n) for n in range(start, start + 1000)])
    assert model.rowCount() == 5000
    assert sum(item is not None for item in model._ring) == 5000
    assert model.message(0).size - 20 == 15_000
    with pytest.raises(IndexError):
        model.message(5000)


def test_display_columns(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=10)
    model.append_batch([message(1, client="c7", type_="chat", direction="out")])
    row = [model.data(model.index(0, column)) for column in range(model.columnCount())]
    assert row[1] == "c7"
    assert row[2] == "←"
    assert row[3] == "chat"
    assert row[4] == "21 B"
    assert '"type":"chat"' in row[5]
    assert len(row[0]) == len("12:00:00.000")
    assert model.headerData(3, Qt.Orientation.Horizontal) == "Type"


def test_clear_resets_rows_types_and_clients(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=10)
    model.append_batch([message(1, type_="chat"), message(2, client="c2")])
    assert model.types == {"chat", "ping"} and model.clients == {"c1", "c2"}
    model.clear()
    assert model.rowCount() == 0 and not model.types and not model.clients


def test_filter_by_type_and_client(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=1000)
    proxy = MessageFilterModel()
    proxy.setSourceModel(model)
    batch = [message(n, client=f"c{n % 3}", type_=("chat" if n % 2 else "ping"))
             for n in range(60)]
    model.append_batch(batch)
    assert proxy.rowCount() == 60
    proxy.set_type_filter("chat")
    assert proxy.rowCount() == 30
    proxy.set_client_filter("c1")
    assert proxy.rowCount() == 10
    shown = [proxy.data(proxy.index(r, 1)) for r in range(proxy.rowCount())]
    assert set(shown) == {"c1"}
    # New messages are filtered as they arrive, no re-filtering of the whole log.
    model.append_batch([message(100, client="c1", type_="chat"),
                        message(101, client="c2", type_="chat")])
    assert proxy.rowCount() == 11
    proxy.set_type_filter(None)
    proxy.set_client_filter(None)
    assert proxy.rowCount() == 62


def test_filter_follows_the_ring(qtbot: QtBot) -> None:
    model = MessageLogModel(capacity=100)
    proxy = MessageFilterModel()
    proxy.setSourceModel(model)
    proxy.set_type_filter("chat")
    for start in range(0, 1000, 50):
        model.append_batch([message(n, type_="chat" if n % 10 == 0 else "ping")
                            for n in range(start, start + 50)])
    assert model.rowCount() == 100
    assert proxy.rowCount() == 10
    assert proxy.data(proxy.index(0, 4)) == human_size(20 + 900)


def test_human_size() -> None:
    assert human_size(999) == "999 B"
    assert human_size(2048) == "2.0 KiB"
    assert human_size(3 * 1024 * 1024) == "3.0 MiB"


def _connected(client_id: str) -> ClientConnected:
    return ClientConnected(client_id=client_id, peer="127.0.0.1:5000", origin=None,
                           connected_at=time.time(), active_connections=1)


def test_connections_add_remove_and_sync(qtbot: QtBot) -> None:
    model = ConnectionsModel()
    model.add(_connected("c1"))
    model.add(_connected("c1"))  # duplicate events are harmless
    model.add(_connected("c2"))
    assert model.client_ids() == ["c1", "c2"]
    changed: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, _roles=None: changed.append(top.row()))
    model.sync([
        {"client_id": "c2", "peer": "127.0.0.1:5000", "origin": "http://localhost:5173",
         "connected_at": 1.0, "messages_in": 5, "messages_out": 6, "last_type": "chat"},
        {"client_id": "c3", "peer": "127.0.0.1:5001", "origin": None, "connected_at": 2.0,
         "messages_in": 0, "messages_out": 1, "last_type": None},
    ])
    assert model.client_ids() == ["c2", "c3"]
    assert changed == [0]
    assert model.data(model.index(0, 4)) == "5"
    assert model.data(model.index(0, 6)) == "chat"
    assert model.data(model.index(0, ConnectionsModel.DISCONNECT_COLUMN)) == "Disconnect"
    model.remove("c2")
    model.remove("nobody")
    assert model.client_ids() == ["c3"]
    assert model.rowCount(model.index(0, 0)) == 0  # a table: no children
    assert model.rowCount(QModelIndex()) == 1
