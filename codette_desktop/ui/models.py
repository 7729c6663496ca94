"""Qt item models behind the dashboard's tables.

They take whole batches (one ``beginInsertRows`` per batch, never one per message), keep
bounded memory (the message log is a ring of :data:`LOG_CAPACITY` rows) and format
values only when a view asks for a visible cell.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from codette_desktop.protocol.events import ClientConnected, MessageLogged

LOG_CAPACITY = 5000
_DIRECTION_ARROWS = {"in": "→", "out": "←", "http": "⇄"}
_DIRECTION_TIPS = {"in": "received", "out": "sent", "http": "HTTP request and its reply"}

Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def clock(at: float, *, millis: bool = False) -> str:
    text = time.strftime("%H:%M:%S", time.localtime(at))
    return f"{text}.{int(at * 1000) % 1000:03d}" if millis else text


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


class ConnectionsModel(QAbstractTableModel):
    """One row per connected client; counters refreshed from the server's snapshots."""

    COLUMNS = ("Client", "Peer", "Origin", "Connected since", "In", "Out", "Last type", "")
    DISCONNECT_COLUMN = 7
    _KEYS = ("client_id", "peer", "origin", "connected_at", "messages_in", "messages_out",
             "last_type")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    # -- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> Any:
        if role == _DISPLAY and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == _DISPLAY:
            if column == self.DISCONNECT_COLUMN:
                return "Disconnect"
            value = row.get(self._KEYS[column])
            if column == 3 and isinstance(value, float):
                return clock(value)
            return "" if value is None else str(value)
        if role == _ALIGN and column in (4, 5):
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column == 2:
            return row.get("origin") or "no Origin header (native client)"
        return None

    # -- updates --------------------------------------------------------------------------

    def client_ids(self) -> list[str]:
        return [row["client_id"] for row in self._rows]

    def row_of(self, client_id: str) -> int:
        for number, row in enumerate(self._rows):
            if row["client_id"] == client_id:
                return number
        return -1

    def add(self, event: ClientConnected) -> None:
        if self.row_of(event.client_id) >= 0:
            return
        position = len(self._rows)
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.append({
            "client_id": event.client_id, "peer": event.peer, "origin": event.origin,
            "connected_at": event.connected_at, "messages_in": 0, "messages_out": 0,
            "last_type": None,
        })
        self.endInsertRows()

    def remove(self, client_id: str) -> None:
        position = self.row_of(client_id)
        if position < 0:
            return
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._rows[position]
        self.endRemoveRows()

    def sync(self, snapshots: Iterable[dict[str, Any]]) -> None:
        """Make the rows match the server's clients: counters, new and gone clients."""
        by_id = {snap["client_id"]: snap for snap in snapshots}
        for client_id in [cid for cid in self.client_ids() if cid not in by_id]:
            self.remove(client_id)
        for number, row in enumerate(self._rows):
            snap = by_id.pop(row["client_id"])
            changed = any(row.get(key) != snap.get(key) for key in self._KEYS)
            if changed:
                row.update({key: snap.get(key) for key in self._KEYS})
                self.dataChanged.emit(self.index(number, 0),
                                      self.index(number, len(self.COLUMNS) - 1))
        if by_id:
            position = len(self._rows)
            self.beginInsertRows(QModelIndex(), position, position + len(by_id) - 1)
            self._rows.extend({key: snap.get(key) for key in self._KEYS}
                              for snap in by_id.values())
            self.endInsertRows()


class MessageLogModel(QAbstractTableModel):
    """The last ``capacity`` messages, oldest first, in a ring (no copying when full).

    ``append_batch`` removes the oldest rows and appends the new ones with one
    remove/insert notification pair, whatever the batch size.
    """

    COLUMNS = ("Time", "Client", "Dir", "Type", "Size", "Preview")
    TYPE_COLUMN = 3
    CLIENT_COLUMN = 1

    def __init__(self, capacity: int = LOG_CAPACITY, parent: Any = None) -> None:
        super().__init__(parent)
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ring: list[MessageLogged | None] = [None] * capacity
        self._start = 0  # ring index of the oldest row
        self._count = 0
        self.total = 0  # messages ever appended, including those pushed out
        self.types: set[str] = set()
        self.clients: set[str] = set()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> Any:
        if role == _DISPLAY and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def message(self, row: int) -> MessageLogged:
        if not 0 <= row < self._count:
            raise IndexError(row)
        item = self._ring[(self._start + row) % self.capacity]
        assert item is not None
        return item

    def messages(self) -> list[MessageLogged]:
        return [self.message(row) for row in range(self._count)]

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        message = self.message(index.row())
        column = index.column()
        if role == _DISPLAY:
            if column == 0:
                return clock(message.at, millis=True)
            if column == 1:
                return message.client_id
            if column == 2:
                return _DIRECTION_ARROWS.get(message.direction, message.direction)
            if column == 3:
                return message.type
            if column == 4:
                return human_size(message.size)
            return message.preview.replace("\n", " ")
        if role == _ALIGN and column == 4:
            return _RIGHT
        if role == Qt.ItemDataRole.ForegroundRole and column == 3 and (
                message.type == "error" or (message.status or 0) >= 400):
            return QColor("#c62828")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 2:
                return _DIRECTION_TIPS.get(message.direction, "")
            if column == 5:
                return message.preview
        return None

    def append_batch(self, batch: Sequence[MessageLogged]) -> None:
        if not batch:
            return
        self.total += len(batch)
        if len(batch) > self.capacity:
            batch = batch[-self.capacity:]
        overflow = self._count + len(batch) - self.capacity
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            for offset in range(overflow):
                self._ring[(self._start + offset) % self.capacity] = None
            self._start = (self._start + overflow) % self.capacity
            self._count -= overflow
            self.endRemoveRows()
        first = self._count
        self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
        for offset, message in enumerate(batch):
            self._ring[(self._start + first + offset) % self.capacity] = message
            self.types.add(message.type)
            self.clients.add(message.client_id)
        self._count += len(batch)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._ring = [None] * self.capacity
        self._start = 0
        self._count = 0
        self.types.clear()
        self.clients.clear()
        self.endResetModel()


class MessageFilterModel(QSortFilterProxyModel):
    """Shows only the messages of one type and/or one client (``None`` = all)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._type: str | None = None
        self._client: str | None = None

    @property
    def type_filter(self) -> str | None:
        return self._type

    @property
    def client_filter(self) -> str | None:
        return self._client

    def set_type_filter(self, type_: str | None) -> None:
        if type_ != self._type:
            self.beginFilterChange()  # Qt 6.10 deprecates invalidateFilter()
            self._type = type_ or None
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_client_filter(self, client_id: str | None) -> None:
        if client_id != self._client:
            self.beginFilterChange()
            self._client = client_id or None
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._type is None and self._client is None:
            return True
        source = self.sourceModel()
        assert isinstance(source, MessageLogModel)
        message = source.message(source_row)
        if self._type is not None and message.type != self._type:
            return False
        return self._client is None or message.client_id == self._client
