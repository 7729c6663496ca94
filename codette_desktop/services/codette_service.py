"""The Codette service: answers every request of the protocol.

It is the server's :class:`RequestHandler`: it owns nothing it did not get from the
composition root (``app.py``) and keeps heavy work off the event loop — chat and the
memory database in a thread, analysis in worker processes, device I/O in a thread.

Reports go to the ``observer`` (protocol events); the Qt bridge listens there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from codette_desktop import PROTOCOL_VERSION, __version__
from codette_desktop.capture import CaptureService, list_input_devices, portaudio_status
from codette_desktop.config import Settings
from codette_desktop.engine import ChatQuery, CodetteEngine, MemoryStore
from codette_desktop.errors import AudioDeviceError, MessageTooLarge, ProtocolError
from codette_desktop.protocol import events, messages, replies
from codette_desktop.server.server import ClientInfo, CodetteServer
from codette_desktop.services.analysis_pool import AnalysisPool, audio_job

log = logging.getLogger("codette.service")
T = TypeVar("T")

CAPABILITIES = [
    "chat", "chat_stream", "analyze", "analyze_audio", "analyze_capture", "perspectives",
    "history", "subscribe", "devices", "capture",
]


class CodetteService:
    def __init__(
        self,
        settings: Settings,
        *,
        server: CodetteServer,
        engine: CodetteEngine,
        memory: MemoryStore,
        analysis: AnalysisPool,
        capture: CaptureService | None,
        observer: events.Observer,
    ) -> None:
        self.settings = settings
        self.server = server
        self.engine = engine
        self.memory = memory
        self.analysis = analysis
        self.capture = capture
        self._observer = observer

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening, then warm the analysis worker in the background."""
        await self.server.start(self)
        self.analysis.start()

    async def stop(self) -> None:
        if self.capture is not None:
            await self.capture.close()
        await self.server.stop()
        await self.analysis.close()

    async def restart_server(self, settings: Settings) -> None:
        """Apply new server settings: close clients with 1001, listen again."""
        await self.server.stop(reason="server restarting")
        self.settings = settings
        self.server.settings = settings
        self.server.port = settings.port
        await self.server.start(self)

    def on_capture_event(self, event: object) -> None:
        """Observer for the capture service: meters to subscribers, state to the UI."""
        if isinstance(event, events.LevelsMeasured):
            self.server.publish_levels(levels_payload(event))
        elif isinstance(event, events.CaptureStateChanged) and self.capture is not None:
            targets = {c.client_id for c in self.server.subscribers("audio_levels")}
            if event.started_by:
                targets.add(event.started_by)
            if targets:
                self.server.push(replies.reply("capture_status", **self._capture_state()),
                                 targets)
        if isinstance(event, events.LevelsMeasured | events.CaptureStateChanged):
            self._observer(event)

    # -- RequestHandler ----------------------------------------------------------------

    def capabilities(self) -> list[str]:
        return list(CAPABILITIES)

    def client_closed(self, client: ClientInfo) -> None:
        pass

    def answer_now(
        self, request: messages.Request, client: ClientInfo
    ) -> dict[str, Any] | None:
        """Replies that need no waiting, sent inline by the server (no task, no thread)."""
        rid = request.id
        match request:
            case messages.Ping():
                return replies.reply("pong", rid)
            case messages.Perspectives():
                return replies.reply("perspectives_response", rid,
                                     perspectives=self.engine.perspectives())
            case messages.Subscribe():
                if request.unsubscribe:
                    self.server.unsubscribe(client, request.events)
                else:
                    self.server.subscribe(client, request.events, request.rate_hz)
                return replies.reply(
                    "subscribed", rid, events=sorted(client.subscriptions),
                    rate_hz=client.subscriptions.get("audio_levels"),
                )
        return None

    async def handle(
        self, request: messages.Request, client: ClientInfo
    ) -> AsyncIterator[dict[str, Any]]:
        rid = request.id
        match request:
            case messages.Status():
                yield replies.reply("status_response", rid, **await self._status())
            case messages.Chat():
                async for message in self._chat(request, client):
                    yield message
            case messages.Analyze():
                yield await self._analyze(request, client)
            case messages.History():
                session = request.session_id or client.session_id
                history, more = await asyncio.to_thread(
                    self.memory.history_page, session, request.limit, HISTORY_PAGE_CHARS)
                yield replies.reply("history_response", rid, session_id=session,
                                    messages=history, has_more=more)
            case messages.MemoryEntry():
                yield await self._memory_entry(request, client)
            case messages.Devices():
                devices = await _device_call(
                    self.capture.list_devices() if self.capture is not None
                    else asyncio.to_thread(list_input_devices))
                yield replies.reply("devices_response", rid, devices=devices)
            case messages.CaptureStart():
                yield await self._capture_start(request, client)
            case messages.CaptureStop():
                if self.capture is None:
                    raise AudioDeviceError("capture is not available")
                await _device_call(self.capture.stop(f"stopped by client {client.client_id}"))
                yield replies.reply("capture_status", rid, **self._capture_state())
            case _:
                quick = self.answer_now(request, client)
                if quick is None:
                    raise ProtocolError("unknown_type",
                                        f"Unknown message type: {type(request).__name__}")
                yield quick

    async def _memory_entry(
        self, request: messages.MemoryEntry, client: ClientInfo
    ) -> dict[str, Any]:
        entry = None
        if request.entry_id.isdigit():
            entry = await asyncio.to_thread(
                self.memory.message, client.session_id, int(request.entry_id))
        if entry is None:
            raise ProtocolError("invalid_field", f"No remembered interaction "
                                f"{messages.printable(request.entry_id)!r} in your history",
                                field="entry_id", request_id=request.id)
        return replies.reply("memory_entry_response", request.id,
                             entry={**entry, "id": str(entry["id"])})

    # -- chat ----------------------------------------------------------------------------

    async def _chat(
        self, request: messages.Chat, client: ClientInfo
    ) -> AsyncIterator[dict[str, Any]]:
        query = ChatQuery(
            message=request.message,
            session_id=request.session_id or client.session_id,
            perspective=request.perspective,
            daw_context=request.daw_context.to_wire() if request.daw_context else None,
        )
        answer = await asyncio.to_thread(self.engine.answer, query)
        if request.stream:
            for index, chunk in enumerate(answer.chunks):
                yield replies.reply("chat_chunk", request.id, delta=chunk, index=index,
                                    session_id=answer.session_id)
        yield replies.reply(
            "chat_response", request.id,
            response=answer.response,
            perspective=answer.perspective,
            confidence=answer.confidence,
            session_id=answer.session_id,
            sources=answer.sources,
            suggestions=answer.suggestions,
            engine="builtin",
            source="codette-knowledge-base",
        )
        self._observer(events.ChatExchanged(
            client_id=client.client_id, session_id=answer.session_id,
            perspective=answer.perspective, question=request.message,
            answer=answer.response, confidence=answer.confidence,
        ))

    # -- analysis ------------------------------------------------------------------------

    async def _analyze(self, request: messages.Analyze, client: ClientInfo) -> dict[str, Any]:
        job: dict[str, Any] = {"track": request.track.to_job(),
                               "analysis_type": request.analysis_type}
        if request.audio is not None:
            job = audio_job(request)
        elif request.capture_seconds is not None:
            if self.capture is None:
                raise AudioDeviceError("capture is not available on this machine")
            samples, rate = self.capture.latest(request.capture_seconds)
            job.update(kind="audio", audio=None, samples=samples, sample_rate=rate)
        else:
            levels = request.levels.to_job() if request.levels is not None else {}
            job.update(kind="metadata", audio_data=levels)
        return await self._analysis_reply(request, await self.analysis.run(job), client)

    async def handle_large(
        self, frame: str, peek: messages.LargeFrame, client: ClientInfo
    ) -> AsyncIterator[dict[str, Any]]:
        outcome = await self.analysis.run_frame(frame, analysis_type=peek.analysis_type)
        if "too_large" in outcome:
            raise MessageTooLarge(f"a {outcome['too_large']!r} message may not exceed 1 MiB")
        if "error" in outcome:
            error = outcome["error"]
            raise ProtocolError(error["code"], error["message"], field=error["field"],
                                request_id=error["request_id"])
        yield await self._analysis_reply(outcome["request"], outcome["result"], client)

    async def _analysis_reply(
        self, request: messages.Analyze, result: dict[str, Any], client: ClientInfo
    ) -> dict[str, Any]:
        track_id = request.track.track_id
        if not result.get("ok"):
            return replies.reply(
                "analysis_response", request.id, status="error", trackId=track_id,
                code=result.get("code", "analysis_failed"),
                message=result.get("message", "analysis failed"),
                field=result.get("field"),
            )
        analysis = result["analysis"]
        session = request.session_id or client.session_id
        track_name = request.track.track_name
        await asyncio.to_thread(self.engine.record_analysis, session, track_name, analysis)
        self._observer(events.AnalysisCompleted(
            client_id=client.client_id, track_name=track_name, analysis=analysis))
        return replies.reply(
            "analysis_response", request.id, status="success", trackId=track_id,
            analysis=analysis,
        )

    # -- capture -------------------------------------------------------------------------

    async def _capture_start(
        self, request: messages.CaptureStart, client: ClientInfo
    ) -> dict[str, Any]:
        if not self.settings.allow_client_capture:
            raise ProtocolError(
                "not_authorized",
                "The user has not allowed clients to start audio capture (Settings)",
            )
        if self.capture is None:
            raise AudioDeviceError("capture is not available on this machine")
        await _device_call(self.capture.start(
            device=request.device, sample_rate=request.sample_rate,
            channels=request.channels, started_by=client.client_id,
        ))
        return replies.reply("capture_status", request.id, **self._capture_state())

    def _capture_state(self) -> dict[str, Any]:
        if self.capture is None:
            _available, reason = portaudio_status()
            return {"state": "unavailable", "message": reason or "capture disabled"}
        return self.capture.state.to_dict()

    # -- status --------------------------------------------------------------------------

    async def _status(self) -> dict[str, Any]:
        memory_size = await asyncio.to_thread(self.memory.count)
        return {
            "status": "ok",
            "codette_available": True,
            "engine_type": "codette-offline-bm25",
            "memory_size": memory_size,
            "active_connections": self.server.active_connections,
            "uptime_s": round(self.server.uptime_s, 3),
            "version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "analysis_ready": self.analysis.warm,
            "capture": self._capture_state(),
        }

    def snapshot(self) -> dict[str, Any]:
        """What the dashboard shows in its server panel."""
        return {
            "url": self.server.url,
            "running": self.server.running,
            "uptime_s": self.server.uptime_s,
            "active_connections": self.server.active_connections,
            **self.server.totals,
        }


# A history reply holds at most this much message text (newest first), so no request can
# make one reply huge; the client asks again with a smaller limit to page back.
HISTORY_PAGE_CHARS = 256 * 1024
# PortAudio calls can wedge inside a broken driver; the client still gets an answer.
DEVICE_TIMEOUT_S = 10.0


async def _device_call(call: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(call, DEVICE_TIMEOUT_S)
    except TimeoutError:
        raise AudioDeviceError(
            f"the audio device did not respond within {DEVICE_TIMEOUT_S:g} s") from None


def levels_payload(event: events.LevelsMeasured) -> dict[str, Any]:
    return {
        "peak_dbfs": list(event.peak_dbfs),
        "rms_dbfs": list(event.rms_dbfs),
        "momentary_lufs": event.momentary_lufs,
        "short_term_lufs": event.short_term_lufs,
        "overflows": event.overflows,
    }
