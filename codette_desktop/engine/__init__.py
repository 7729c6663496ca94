"""The offline chat engine: knowledge base, BM25 retrieval, perspectives, chat memory.

Pure Python and SQLite — no Qt, asyncio or network imports, no ML models. The server
builds one :class:`CodetteEngine` from a :class:`KnowledgeBase` and a :class:`MemoryStore`
and calls :meth:`CodetteEngine.answer` from a worker thread.

Errors: ConfigError (malformed knowledge files), MemoryStoreError (SQLite failures),
ProtocolError("invalid_field") (an unknown perspective or an empty message).
"""

from codette_desktop.engine.chat import ChatAnswer, ChatQuery, CodetteEngine, split_chunks
from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry, SearchResult
from codette_desktop.engine.memory import MemoryStore
from codette_desktop.engine.perspectives import (
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    validate_perspective,
)

__all__ = [
    "DEFAULT_PERSPECTIVE",
    "PERSPECTIVES",
    "ChatAnswer",
    "ChatQuery",
    "CodetteEngine",
    "KnowledgeBase",
    "KnowledgeEntry",
    "MemoryStore",
    "SearchResult",
    "split_chunks",
    "validate_perspective",
]
