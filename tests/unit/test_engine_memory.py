"""MemoryStore: ordering, persistence across restart and kill -9, WAL, threads, errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from codette_desktop.engine import MemoryStore
from codette_desktop.errors import MemoryStoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path):
    memory = MemoryStore(tmp_path / "memory.db")
    yield memory
    memory.close()


def test_history_is_oldest_first_with_all_fields(store: MemoryStore) -> None:
    store.add("s1", "user", "How loud?", "mix_engineering")
    store.add("s1", "assistant", "About -14 LUFS.", "mix_engineering")
    store.add("s2", "user", "Other session", None)
    history = store.history("s1")
    assert [m["text"] for m in history] == ["How loud?", "About -14 LUFS."]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["perspective"] == "mix_engineering"
    assert set(history[0]) == {"id", "role", "text", "perspective", "timestamp"}
    assert history[0]["id"] < history[1]["id"]
    assert store.history("s2")[0]["perspective"] is None


def test_timestamps_are_iso_utc_with_microseconds(store: MemoryStore) -> None:
    store.add("s", "user", "hi", None)
    stamp = store.history("s")[0]["timestamp"]
    assert stamp.endswith("+00:00")
    assert len(stamp) == len("2026-11-26T07:00:00.123456+00:00")
    offset = datetime.fromisoformat(stamp).utcoffset()
    assert offset is not None and offset.total_seconds() == 0


def test_history_limit_keeps_the_newest(store: MemoryStore) -> None:
    for i in range(10):
        store.add("s", "user", f"m{i}", None)
    assert [m["text"] for m in store.history("s", limit=3)] == ["m7", "m8", "m9"]
    assert store.history("s", limit=0) == []
    assert store.history("unknown") == []


def test_count_covers_all_sessions(store: MemoryStore) -> None:
    assert store.count() == 0
    store.add("a", "user", "x", None)
    store.add("b", "assistant", "y", None)
    assert store.count() == 2


def test_recent_texts_filters_role_newest_first(store: MemoryStore) -> None:
    for i in range(7):
        store.add("s", "user", f"q{i}", None)
        store.add("s", "assistant", f"a{i}", None)
    store.add("other", "assistant", "elsewhere", None)
    assert store.recent_texts("s") == ["a6", "a5", "a4", "a3", "a2"]
    assert store.recent_texts("s", role="user", n=2) == ["q6", "q5"]
    assert store.recent_texts("s", n=0) == []


def test_invalid_role_is_rejected(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="role"):
        store.add("s", "system", "x", None)
    assert store.count() == 0


def test_analyses_round_trip_newest_first(store: MemoryStore) -> None:
    first = {"analysis_type": "loudness", "measurements": {"integrated_lufs": -12.0}}
    second = {
        "analysis_type": "full",
        "codette_insights": "Loud.",
        "mixing_suggestions": ["Back off the limiter"],
        "quality_score": 0.61,
        "measurements": {"integrated_lufs": -8.5, "true_peak_dbtp": 0.3},
    }
    store.add_analysis("s", "Mix v1", first)
    store.add_analysis("s", None, second)
    store.add_analysis("other", "Elsewhere", first)
    recent = store.recent_analyses("s")
    assert [r["track_name"] for r in recent] == [None, "Mix v1"]
    assert recent[0]["analysis"] == second
    assert recent[1]["analysis"] == first
    assert recent[0]["timestamp"].endswith("+00:00")
    assert len(store.recent_analyses("s", n=1)) == 1
    assert store.count() == 0  # analyses are not chat messages


def test_analysis_with_numpy_values_is_stored_as_plain_numbers(store: MemoryStore) -> None:
    np = pytest.importorskip("numpy")
    store.add_analysis(
        "s", "t", {"measurements": {"rms_dbfs": np.float32(-20.5)}, "bands": np.array([1.0, 2.0])}
    )
    analysis = store.recent_analyses("s")[0]["analysis"]
    assert analysis["measurements"]["rms_dbfs"] == pytest.approx(-20.5)
    assert analysis["bands"] == [1.0, 2.0]


def test_journal_mode_is_wal(store: MemoryStore) -> None:
    assert store.journal_mode() == "wal"


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "memory.db"
    first = MemoryStore(path)
    first.add("s", "user", "remember me", "psychological")
    first.add_analysis("s", "Song", {"measurements": {"integrated_lufs": -9.0}})
    first.close()
    second = MemoryStore(path)
    try:
        assert second.history("s")[0]["text"] == "remember me"
        assert second.history("s")[0]["perspective"] == "psychological"
        assert second.recent_analyses("s")[0]["analysis"]["measurements"] == {
            "integrated_lufs": -9.0
        }
        assert second.count() == 1
    finally:
        second.close()


_KILLED_WRITER = """
import sys
from pathlib import Path
from codette_desktop.engine import MemoryStore

store = MemoryStore(Path(sys.argv[1]))
for i in range(20):
    store.add("killed", "user", f"message {i}", None)
store.add_analysis("killed", "Track", {"measurements": {"true_peak_dbtp": -0.2}})
print("written", flush=True)
sys.stdin.readline()  # block until killed; never closes the store
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_committed_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reopened = MemoryStore(path)
    try:
        texts = [m["text"] for m in reopened.history("killed")]
        assert texts == [f"message {i}" for i in range(20)]
        assert reopened.recent_analyses("killed")[0]["track_name"] == "Track"
    finally:
        reopened.close()


def test_concurrent_writers_from_threads(store: MemoryStore) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                store.add(f"s{n}", "user", f"{n}-{i}", None)
                store.recent_texts(f"s{n}", "user", 5)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 200
    assert [m["text"] for m in store.history("s3", limit=100)] == [f"3-{i}" for i in range(25)]


def test_use_after_close_raises_memory_store_error(tmp_path: Path) -> None:
    memory = MemoryStore(tmp_path / "m.db")
    memory.close()
    memory.close()  # idempotent
    with pytest.raises(MemoryStoreError, match="closed"):
        memory.add("s", "user", "x", None)
    with pytest.raises(MemoryStoreError, match="closed"):
        memory.history("s")


def test_corrupt_file_raises_memory_store_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_bytes(b"this is not an sqlite database, just some bytes" * 100)
    with pytest.raises(MemoryStoreError, match=str(path.name)):
        MemoryStore(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(MemoryStoreError, match="newer version"):
        MemoryStore(path)


# The schema as version 1 of the app wrote it, kept verbatim so the migration is tested
# against a real old file, not against today's code.
_V1_SCHEMA = """
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


def test_a_version_1_database_is_migrated_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    conn.execute(
        "INSERT INTO messages (session_id, role, text, perspective, timestamp) "
        "VALUES ('s', 'user', 'How loud?', 'mix_engineering', '2026-01-01T00:00:00+00:00')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with MemoryStore(path) as memory:
        assert [m["text"] for m in memory.history("s")] == ["How loud?"]
        memory.add_exchange("s", "And Apple?", "-16 LUFS.", None, "builtin", {"entry_id": "x"})
        assert memory.topic("s") == {"entry_id": "x"}
        assert memory.engines("s") == ["builtin"]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = [row[1] for row in conn.execute("PRAGMA table_info(messages)")]
        assert "engine" in columns
    finally:
        conn.close()


def test_topics_are_replaced_per_session_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path) as memory:
        assert memory.topic("s") is None
        memory.set_topic("s", {"entry_id": "a"})
        memory.set_topic("s", {"entry_id": "b"})
        memory.set_topic("t", {"entry_id": "c"})
    with MemoryStore(path) as memory:
        assert memory.topic("s") == {"entry_id": "b"}
        assert memory.topic("t") == {"entry_id": "c"}


def test_a_damaged_topic_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path) as memory:
        memory.set_topic("s", {"entry_id": "a"})
    conn = sqlite3.connect(path)
    conn.execute("UPDATE topics SET topic = 'not json'")
    conn.commit()
    conn.close()
    with MemoryStore(path) as memory:
        assert memory.topic("s") is None  # costs the follow-up, not the answer


def test_an_exchange_is_one_transaction(store: MemoryStore) -> None:
    store.add_exchange("s", "Q?", "A.", "psychological", "llm:qwen", {"entry_id": "x"})
    history = store.history("s")
    assert [(m["role"], m["text"]) for m in history] == [("user", "Q?"), ("assistant", "A.")]
    assert store.engines("s") == ["llm:qwen"]
    with pytest.raises(MemoryStoreError, match="JSON"):
        # A topic that cannot be stored aborts the whole exchange: nothing half-written.
        store.add_exchange("s", "Q2?", "A2.", None, "builtin", {"bad": float("nan")})
    assert store.count() == 2


def test_history_pages_by_size_and_says_when_more_remain(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.sqlite3") as store:
        for n in range(10):
            store.add("s", "user", f"{n}" * 1000, None)
        page, more = store.history_page("s", limit=100, max_chars=3500)
        assert [m["text"][0] for m in page] == ["7", "8", "9"] and more  # newest that fit
        page, more = store.history_page("s", limit=100)
        assert len(page) == 10 and not more
        page, more = store.history_page("s", limit=4)
        assert len(page) == 4 and more
        # A single message larger than the page still comes through on its own.
        store.add("s", "user", "x" * 10_000, None)
        page, more = store.history_page("s", limit=100, max_chars=10)
        assert len(page) == 1 and more


def test_a_message_is_found_only_in_its_own_session(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.sqlite3") as store:
        store.add("mine", "user", "secret track name", None)
        message_id = store.history("mine")[0]["id"]
        assert store.message("mine", message_id)["text"] == "secret track name"  # type: ignore[index]
        assert store.message("theirs", message_id) is None


def test_retention_keeps_the_live_data_under_the_size_cap(tmp_path: Path) -> None:
    cap = 256 * 1024
    with MemoryStore(tmp_path / "m.sqlite3", max_bytes=cap) as store:
        for n in range(3000):
            store.add("s", "user", f"question {n} " + "x" * 400, None)
        store.prune()
        assert store.live_bytes() <= cap
        texts = [m["text"] for m in store.history("s", 10_000)]
        assert texts[-1].startswith("question 2999 ")  # the newest stay
        assert not any(t.startswith("question 0 ") for t in texts)  # the oldest went
    size = (tmp_path / "m.sqlite3").stat().st_size
    assert size < 4 * cap  # freed pages are reused: the file stops growing near the cap


def test_retention_drops_what_is_older_than_the_age_cap(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with MemoryStore(path) as store:
        store.add("s", "user", "recent", None)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO messages (session_id, role, text, perspective, timestamp) "
                     "VALUES ('s', 'user', 'ancient', NULL, '2020-01-01T00:00:00+00:00')")
    conn.close()
    with MemoryStore(path, max_age_days=30) as store:  # applied on opening
        assert [m["text"] for m in store.history("s")] == ["recent"]


def test_text_that_sqlite_cannot_encode_is_stored_cleaned(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.sqlite3") as store:
        store.add("s", "assistant", "model output with a lone \ud800 surrogate", None)
        assert store.history("s")[0]["text"] == "model output with a lone \ufffd surrogate"
