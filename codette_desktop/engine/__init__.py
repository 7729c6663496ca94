"""The offline chat engine: knowledge base, retrieval, answer composition, chat memory.

Pure Python and SQLite — no Qt, asyncio or network imports, no ML models. The server
builds one :class:`CodetteEngine` from a :class:`KnowledgeBase` and a :class:`MemoryStore`
and calls :meth:`CodetteEngine.answer` (or :meth:`~CodetteEngine.prepare`, then
:meth:`~CodetteEngine.commit` with another engine's text) from a worker thread. Each
answer carries its :class:`Grounding`.

One idea per module: ``chat`` (the engine), ``language``, ``smalltalk``, ``intent``,
``numbers``, ``symptoms``, ``followup``, ``topicality``, ``facts`` (the key line),
``readings`` (what the question's numbers mean), ``context`` and ``context_notes`` (the DAW
context), ``analysis_notes``, ``opening``, ``compose``, ``perspectives``, ``chunks``,
``knowledge`` and ``retrieval`` (BM25), ``memory`` (SQLite), ``grounding``.

Errors: ConfigError (malformed knowledge files), MemoryStoreError (SQLite failures),
ProtocolError("invalid_field") (an unknown perspective or an empty message).
"""

from codette_desktop.engine.chat import ChatAnswer, ChatQuery, CodetteEngine
from codette_desktop.engine.chunks import split_chunks
from codette_desktop.engine.grounding import INTENTS, Grounding, GroundingFact
from codette_desktop.engine.knowledge import KnowledgeBase, KnowledgeEntry, SearchResult
from codette_desktop.engine.memory import MemoryStore
from codette_desktop.engine.perspectives import (
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    validate_perspective,
)

__all__ = [
    "DEFAULT_PERSPECTIVE",
    "INTENTS",
    "PERSPECTIVES",
    "ChatAnswer",
    "ChatQuery",
    "CodetteEngine",
    "Grounding",
    "GroundingFact",
    "KnowledgeBase",
    "KnowledgeEntry",
    "MemoryStore",
    "SearchResult",
    "split_chunks",
    "validate_perspective",
]
