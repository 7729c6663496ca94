"""The studio tools behind the frontend's REST routes, and the usage behind its status.

:class:`StudioTools` answers the tool requests (suggestions, delay sync, genre, ear
training, checklists, instrument info, session review) with the pure functions of
:mod:`codette_desktop.engine.studio`, in a worker thread: a review or a suggestion search
takes a few milliseconds, which the event loop does not give away.

:class:`ChatUsage` keeps the little the ``quantum_state`` numbers are computed from
(:mod:`codette_desktop.engine.studio.quantum_state` documents their meanings).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

from codette_desktop.engine import KnowledgeBase
from codette_desktop.engine.studio import (
    checklist,
    delay_sync,
    ear_training,
    genre,
    instrument,
    session_review,
    suggestions,
)
from codette_desktop.engine.studio.quantum_state import SessionStats
from codette_desktop.protocol import messages, replies

TOOL_REQUESTS = (messages.Suggest, messages.DelaySync, messages.DetectGenre,
                 messages.EarTraining, messages.ProductionChecklist, messages.InstrumentInfo,
                 messages.ReviewSession)
# How many recent chats the status numbers look back on.
RECENT_CHATS = 50


class StudioTools:
    def __init__(self, knowledge: KnowledgeBase) -> None:
        self._kb = knowledge

    def _compute(self, request: messages.Request) -> tuple[str, dict[str, Any]]:
        kb = self._kb
        match request:
            case messages.Suggest():
                context = request.daw_context.to_wire() if request.daw_context else None
                items = suggestions.suggest(kb, context_type=request.context_type,
                                            track_type=request.track_type,
                                            limit=request.limit, daw_context=context)
                confidence = max((float(i["confidence"]) for i in items  # type: ignore[arg-type]
                                  ), default=0.0)
                return "suggestions_response", {"suggestions": items,
                                                "confidence": round(confidence, 3)}
            case messages.DelaySync():
                return "delay_sync_response", delay_sync.divisions(request.bpm)
            case messages.DetectGenre():
                return "genre_response", genre.detect_genre(
                    [track.to_wire() for track in request.tracks])
            case messages.EarTraining():
                return "ear_training_response", ear_training.exercises(
                    request.exercise_type, request.difficulty)
            case messages.ProductionChecklist():
                return "checklist_response", checklist.production_checklist(kb, request.stage)
            case messages.InstrumentInfo():
                return "instrument_info_response", instrument.instrument_info(
                    kb, request.category, request.instrument)
            case messages.ReviewSession():
                return "session_review_response", session_review.review(request.body, kb=kb)
        raise TypeError(f"not a studio tool request: {type(request).__name__}")

    async def answer(self, request: messages.Request) -> dict[str, Any]:
        type_, fields = await asyncio.to_thread(self._compute, request)
        return replies.reply(type_, request.id, **fields)


class ChatUsage:
    """Recent chats, bounded: their confidence, whether they had context, what they cited."""

    def __init__(self) -> None:
        self._recent: deque[tuple[float, bool]] = deque(maxlen=RECENT_CHATS)
        self._cited: set[str] = set()

    def record(self, *, confidence: float, contextual: bool, sources: Iterable[str]) -> None:
        self._recent.append((confidence, contextual))
        self._cited.update(sources)

    def stats(self, *, knowledge_entries: int, workers_ready: int,
              workers_total: int) -> SessionStats:
        return SessionStats(
            recent_confidences=tuple(c for c, _ in self._recent),
            recent_chats=len(self._recent),
            contextual_chats=sum(1 for _, contextual in self._recent if contextual),
            cited_entries=min(len(self._cited), knowledge_entries),
            knowledge_entries=knowledge_entries,
            workers_ready=workers_ready,
            workers_total=workers_total,
        )

