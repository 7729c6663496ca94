"""Chat memory: one SQLite file holding messages, earlier analyses and topics per session.

WAL journal, one transaction per write: a committed write survives a crash or a
``kill -9`` of the process (SQLite "Write-Ahead Logging", §2; with
``synchronous=NORMAL`` only a power loss can drop the last commits, which is fine for
chat history and keeps each write well under a millisecond).

One connection is shared by every thread (``check_same_thread=False``) and serialised by
a lock, so the server can call the store from its worker threads.

Schema versions (``PRAGMA user_version``): 1 = messages and analyses; 2 adds the engine
that wrote each message and a ``topics`` table (what a session's last studio answer was
about, so a follow-up after a restart still resolves). Opening a version-1 file migrates
it in one transaction; a file from a newer version is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from codette_desktop.domain.fields import clean_text
from codette_desktop.errors import MemoryStoreError

_SCHEMA_VERSION = 2
_ROLES = ("user", "assistant")

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL,
    perspective TEXT,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id);
CREATE TABLE IF NOT EXISTS analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    track_name TEXT,
    analysis TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS analyses_by_session ON analyses (session_id, id);
"""
# Script that takes a database from version n - 1 to version n.
_MIGRATIONS = {
    2: """
ALTER TABLE messages ADD COLUMN engine TEXT;
CREATE TABLE IF NOT EXISTS topics (
    session_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
""",
}


def utc_timestamp() -> str:
    """Now as ISO-8601 UTC with microseconds, e.g. ``2026-11-26T07:00:00.123456+00:00``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _json_default(value: object) -> Any:
    # Analysis results may carry numpy scalars or arrays; store their plain values.
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    return str(value)


def _message_row(
    session_id: str, role: str, text: str, perspective: str | None, engine: str | None
) -> tuple[str, tuple[object, ...]]:
    # Whatever the text (a model's output, a client's string), it must be storable: lone
    # UTF-16 surrogates make SQLite's UTF-8 encoding raise.
    return (
        "INSERT INTO messages (session_id, role, text, perspective, engine, timestamp) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (clean_text(session_id), role, clean_text(text), perspective, engine, utc_timestamp()),
    )


def _topic_row(session_id: str, topic: dict[str, Any]) -> tuple[str, tuple[object, ...]]:
    try:
        encoded = json.dumps(topic, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryStoreError(f"topic cannot be stored as JSON: {exc}") from exc
    return (
        "INSERT INTO topics (session_id, topic, timestamp) VALUES (?, ?, ?) "
        "ON CONFLICT (session_id) DO UPDATE SET topic = excluded.topic, "
        "timestamp = excluded.timestamp",
        (session_id, encoded, utc_timestamp()),
    )


def _message(row: tuple[Any, ...]) -> dict[str, Any]:
    message_id, role, text, perspective, timestamp = row
    return {"id": message_id, "role": role, "text": text, "perspective": perspective,
            "timestamp": timestamp}


# Retention is checked after this many writes (and on opening): cheap enough to be
# unnoticed, often enough that a flood of chats cannot outgrow the cap by much.
PRUNE_EVERY_WRITES = 100
# When over the size cap, the oldest messages go in steps of this share of them.
PRUNE_STEP = 0.1


class MemoryStore:
    """Persistent chat and analysis memory. Raises MemoryStoreError when SQLite fails.

    Retention: with ``max_bytes``, the oldest messages and analyses are deleted while the
    live data is larger (their pages are reused, so the file stops growing near the cap);
    with ``max_age_days``, anything older goes.
    """

    def __init__(self, path: Path, *, max_bytes: int | None = None,
                 max_age_days: float | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._max_bytes = max_bytes
        self._max_age_days = max_age_days
        self._writes = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
            self._prepare(self._conn)
            with self._lock:
                self._prune(self._conn)
        except (OSError, sqlite3.Error, MemoryStoreError) as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if isinstance(exc, MemoryStoreError):
                raise
            raise MemoryStoreError(f"cannot open memory database {path}: {exc}") from exc

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise MemoryStoreError(
                f"memory database {self._path} was written by a newer version "
                f"(schema {version}); move it aside or upgrade"
            )
        if version == _SCHEMA_VERSION:
            return
        steps = [_SCHEMA_V1] if version == 0 else []
        steps += [_MIGRATIONS[v] for v in range(max(version, 1) + 1, _SCHEMA_VERSION + 1)]
        script = "".join(steps)
        try:
            conn.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version = {_SCHEMA_VERSION};\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                conn.rollback()
            raise

    @property
    def path(self) -> Path:
        return self._path

    def journal_mode(self) -> str:
        """The SQLite journal mode in effect ("wal" unless the filesystem refused it)."""
        return str(self._query("PRAGMA journal_mode")[0][0])

    def add(
        self,
        session_id: str,
        role: str,
        text: str,
        perspective: str | None,
        engine: str | None = None,
    ) -> None:
        """Store one chat message; committed before this returns."""
        if role not in _ROLES:
            raise ValueError(f"role must be 'user' or 'assistant', not {role!r}")
        self._write_many([_message_row(session_id, role, text, perspective, engine)])

    def add_exchange(
        self,
        session_id: str,
        question: str,
        answer: str,
        perspective: str | None,
        engine: str | None,
        topic: dict[str, Any] | None = None,
    ) -> None:
        """Store a question, its answer and (when given) the session's new topic at once.

        One transaction: after a crash either the whole exchange is there or none of it.
        """
        rows = [
            _message_row(session_id, "user", question, perspective, None),
            _message_row(session_id, "assistant", answer, perspective, engine),
        ]
        if topic is not None:
            rows.append(_topic_row(session_id, topic))
        self._write_many(rows)

    def set_topic(self, session_id: str, topic: dict[str, Any]) -> None:
        """Remember what the session is talking about (replaces the previous topic)."""
        self._write_many([_topic_row(session_id, topic)])

    def topic(self, session_id: str) -> dict[str, Any] | None:
        """The session's stored topic, or None (also for a topic that is not valid JSON)."""
        rows = self._query("SELECT topic FROM topics WHERE session_id = ?", (session_id,))
        if not rows:
            return None
        try:
            decoded = json.loads(rows[0][0])
        except json.JSONDecodeError:
            return None  # a damaged topic only costs the follow-up, not the answer
        return decoded if isinstance(decoded, dict) else None

    def engines(self, session_id: str, n: int = 5) -> list[str | None]:
        """Which engine wrote the last ``n`` assistant messages of a session, newest first."""
        if n <= 0:
            return []
        rows = self._query(
            "SELECT engine FROM messages WHERE session_id = ? AND role = 'assistant' "
            "ORDER BY id DESC LIMIT ?",
            (session_id, n),
        )
        return [row[0] for row in rows]

    def history(self, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` messages of a session, oldest first."""
        return self.history_page(session_id, limit)[0]

    def history_page(self, session_id: str, limit: int = 50,
                     max_chars: int | None = None) -> tuple[list[dict[str, Any]], bool]:
        """The newest messages of a session, oldest first, and whether older ones remain.

        At most ``limit`` messages and, with ``max_chars``, only as many of the newest as
        fit in that many characters of text (at least one), so a reply stays small
        whatever the messages hold.
        """
        if limit <= 0:
            return [], False
        rows = self._query(
            "SELECT id, role, text, perspective, timestamp FROM messages WHERE session_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (session_id, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        if max_chars is not None:
            kept, used = 0, 0
            for row in rows:
                used += len(row[2])
                if kept and used > max_chars:
                    more = True
                    break
                kept += 1
            rows = rows[:kept]
        return [_message(row) for row in reversed(rows)], more

    def message(self, session_id: str, message_id: int) -> dict[str, Any] | None:
        """One message of a session by its id, or None (also when it is another session's)."""
        rows = self._query(
            "SELECT id, role, text, perspective, timestamp FROM messages "
            "WHERE session_id = ? AND id = ?",
            (session_id, message_id),
        )
        return _message(rows[0]) if rows else None

    def count(self) -> int:
        """Number of stored messages across all sessions."""
        return int(self._query("SELECT COUNT(*) FROM messages")[0][0])

    def recent_texts(self, session_id: str, role: str = "assistant", n: int = 5) -> list[str]:
        """Texts of the last ``n`` messages by ``role`` in a session, newest first."""
        if n <= 0:
            return []
        rows = self._query(
            "SELECT text FROM messages WHERE session_id = ? AND role = ? ORDER BY id DESC LIMIT ?",
            (session_id, role, n),
        )
        return [row[0] for row in rows]

    def add_analysis(self, session_id: str, track_name: str | None, analysis: dict) -> None:
        """Store the ``analysis`` object of an analysis_response for later questions."""
        try:
            encoded = json.dumps(analysis, default=_json_default, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise MemoryStoreError(f"analysis cannot be stored as JSON: {exc}") from exc
        self._write(
            "INSERT INTO analyses (session_id, track_name, analysis, timestamp) "
            "VALUES (?, ?, ?, ?)",
            (session_id, track_name, encoded, utc_timestamp()),
        )

    def recent_analyses(self, session_id: str, n: int = 3) -> list[dict[str, Any]]:
        """The last ``n`` analyses of a session, newest first."""
        if n <= 0:
            return []
        rows = self._query(
            "SELECT track_name, analysis, timestamp FROM analyses WHERE session_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (session_id, n),
        )
        result: list[dict[str, Any]] = []
        for track_name, encoded, timestamp in rows:
            try:
                analysis = json.loads(encoded)
            except json.JSONDecodeError as exc:
                raise MemoryStoreError(f"stored analysis is not valid JSON: {exc}") from exc
            result.append({"track_name": track_name, "analysis": analysis, "timestamp": timestamp})
        return result

    def close(self) -> None:
        """Close the database. Idempotent; later calls raise MemoryStoreError."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise MemoryStoreError(f"memory database {self._path} is closed")
        return self._conn

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._write_many([(sql, params)])

    def _write_many(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        with self._lock:
            conn = self._connection()
            try:
                with conn:  # commits on success, rolls back on error
                    for sql, params in statements:
                        conn.execute(sql, params)
                self._writes += 1
                if self._writes % PRUNE_EVERY_WRITES == 0:
                    self._prune(conn)
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"cannot write memory database {self._path}: {exc}") from exc

    def live_bytes(self) -> int:
        """Bytes of the database in use (its free pages excluded)."""
        with self._lock:
            return self._live_bytes(self._connection())

    @staticmethod
    def _live_bytes(conn: sqlite3.Connection) -> int:
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((page_count - free) * page_size)

    def prune(self) -> None:
        """Apply the retention limits now (they are also applied as writes come in)."""
        with self._lock:
            self._prune(self._connection())

    def _prune(self, conn: sqlite3.Connection) -> None:
        if self._max_age_days is not None:
            cutoff = (datetime.now(UTC) - timedelta(days=self._max_age_days)).isoformat(
                timespec="microseconds")
            with conn:
                for table in ("messages", "analyses", "topics"):
                    conn.execute(f"DELETE FROM {table} WHERE timestamp < ?", (cutoff,))
        if self._max_bytes is None:
            return
        while self._live_bytes(conn) > self._max_bytes:
            rows = conn.execute("SELECT COUNT(*), MIN(id) FROM messages").fetchone()
            analyses = conn.execute("SELECT COUNT(*), MIN(id) FROM analyses").fetchone()
            if not rows[0] and not analyses[0]:
                return
            with conn:
                for table, (count, first) in (("messages", rows), ("analyses", analyses)):
                    if count:
                        step = max(1, int(count * PRUNE_STEP))
                        conn.execute(f"DELETE FROM {table} WHERE id < ?", (first + step,))

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise MemoryStoreError(f"cannot read memory database {self._path}: {exc}") from exc
