"""The Codette service: answers every request of the protocol.

It is the server's :class:`RequestHandler`: it owns nothing it did not get from the
composition root (``app.py``) and keeps heavy work off the event loop — chat and the
memory database in a thread, analysis in worker processes, device I/O in a thread.

Reports go to the ``observer`` (protocol events); the Qt bridge listens there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from typing import Any, TypeVar

from codette_desktop import PROTOCOL_VERSION, __version__
from codette_desktop.capture import CaptureService, list_input_devices, portaudio_status
from codette_desktop.config import Settings
from codette_desktop.engine import ChatAnswer, ChatQuery, CodetteEngine, KnowledgeBase, MemoryStore
from codette_desktop.engine.prompt import Message, build_messages
from codette_desktop.engine.studio.quantum_state import quantum_state
from codette_desktop.errors import AudioDeviceError, LLMError, MessageTooLarge, ProtocolError
from codette_desktop.protocol import consent, events, messages, replies, sessions
from codette_desktop.server.server import ClientInfo, CodetteServer
from codette_desktop.services.analysis_pool import AnalysisPool, audio_job
from codette_desktop.services.local_model import LocalModel
from codette_desktop.services.studio import TOOL_REQUESTS, ChatUsage, StudioTools

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
        knowledge: KnowledgeBase,
        memory: MemoryStore,
        analysis: AnalysisPool,
        capture: CaptureService | None,
        observer: events.Observer,
        capture_token: str,
        model: LocalModel | None = None,
    ) -> None:
        self.settings = settings
        self.server = server
        self.engine = engine
        self.knowledge = knowledge
        self.studio = StudioTools(knowledge)
        self.usage = ChatUsage()
        self.memory = memory
        self.analysis = analysis
        self.capture = capture
        # The local model that writes chat answers when one is configured (llm_url).
        self.model = model
        self._observer = observer
        self.consent = consent.CaptureConsent(capture_token)
        # Set by the desktop UI: someone is there to answer a page's microphone request.
        self.can_ask_user = False

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
        if self.model is not None:
            await self.model.aclose()

    async def restart_server(self, settings: Settings) -> None:
        """Apply new server settings: close clients with 1001, listen again."""
        await self.server.stop(reason="server restarting")
        self.settings_changed(settings)
        self.server.port = settings.port
        await self.server.start(self)

    def on_capture_event(self, event: object) -> None:
        """Observer for the capture service: meters to subscribers, state to the UI."""
        if isinstance(event, events.LevelsMeasured):
            self.server.publish_levels(levels_payload(event))
        elif isinstance(event, events.CaptureStateChanged) and self.capture is not None:
            targets = [c for c in self.server.clients()
                       if (c.capture_authorized and "audio_levels" in c.subscriptions)
                       or c.client_id == event.started_by]
            for target in targets:
                self.server.push(replies.reply("capture_status", **self._capture_state(target)),
                                 [target.client_id])
        if isinstance(event, events.LevelsMeasured | events.CaptureStateChanged):
            self._observer(event)

    # -- RequestHandler ----------------------------------------------------------------

    @staticmethod
    def session_of(client: ClientInfo, requested: str | None) -> sessions.SessionRef:
        """The stored session a request may use (:mod:`.sessions`)."""
        return sessions.resolve(requested=requested, default_secret=client.session_id,
                                origin=client.origin, connection_id=client.client_id,
                                kind=client.kind)

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
                    if "audio_levels" in request.events:
                        self._authorize_capture(client, request.capture_token, consume=False,
                                                device=None, request_id=rid)
                    self.server.subscribe(client, request.events, request.rate_hz)
                return replies.reply(
                    "subscribed", rid, events=sorted(client.subscriptions),
                    rate_hz=client.subscriptions.get("audio_levels"),
                )
        return None

    async def handle(
        self, request: messages.Request, client: ClientInfo
    ) -> AsyncGenerator[dict[str, Any], None]:
        rid = request.id
        match request:
            case messages.Status():
                yield replies.reply("status_response", rid, **await self._status(client))
            case messages.Chat():
                # Closed at once when the client goes: that ends the model's generation.
                async with aclosing(self._chat(request, client)) as chat:
                    async for message in chat:
                        yield message
            case messages.Analyze():
                if request.audio is not None and request.audio.path is not None:
                    yield self.server.progress(client, rid, "analysing", 0, 1)
                yield await self._analyze(request, client)
            case messages.History():
                session = self.session_of(client, request.session_id)
                history, more = await asyncio.to_thread(
                    self.memory.history_page, session.key, request.limit, HISTORY_PAGE_CHARS)
                yield replies.reply("history_response", rid, session_id=session.public_id,
                                    messages=history, has_more=more)
            case messages.MemoryEntry():
                yield await self._memory_entry(request, client)
            case _ if isinstance(request, TOOL_REQUESTS):
                yield await self.studio.answer(request)
            case messages.Devices():
                devices = await _device_call(
                    self.capture.list_devices() if self.capture is not None
                    else asyncio.to_thread(list_input_devices))
                yield replies.reply("devices_response", rid, devices=devices)
            case messages.CaptureStart():
                yield await self._capture_start(request, client)
            case messages.CaptureStop():
                yield await self._capture_stop(request, client)
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
                self.memory.message, self.session_of(client, None).key, int(request.entry_id))
        if entry is None:
            raise ProtocolError("invalid_field", f"No remembered interaction "
                                f"{messages.printable(request.entry_id)!r} in your history",
                                field="entry_id", request_id=request.id)
        return replies.reply("memory_entry_response", request.id,
                             entry={**entry, "id": str(entry["id"])})

    # -- chat ----------------------------------------------------------------------------

    async def _chat(
        self, request: messages.Chat, client: ClientInfo
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The built-in answer, or the local model's written from the same grounding.

        With a model configured, the engine prepares its answer without storing it; a
        studio question (not off-topic) then goes to the model, and the built-in answer
        stays ready: any LLMError (down, refused, no first token within llm_timeout_s,
        broke off) sends it instead, with ``fallback_reason``. Chunks of the model's text
        already sent are replaced by that final ``chat_response``.
        """
        session = self.session_of(client, request.session_id)
        query = ChatQuery(
            message=request.message,
            session_id=session.key,
            perspective=request.perspective,
            daw_context=request.daw_context,
        )
        model = self.model if self.model is not None and self.model.configured else None
        prompt: list[Message] | None = None
        if model is None:
            answer = await asyncio.to_thread(self.engine.answer, query)
        else:
            answer, prompt = await asyncio.to_thread(_prepare_for_model, self.engine, query)
        self.usage.record(
            confidence=answer.confidence,
            contextual=request.daw_context is not None and not request.daw_context.is_empty,
            sources=[str(s["id"]) for s in answer.sources if "id" in s])
        text, label, index = answer.response, "builtin", 0
        engine: dict[str, Any] = {"engine": "builtin"}
        if model is not None and prompt is not None:
            try:
                async with model.generate(prompt) as generation:
                    parts = []
                    async for batch in generation:
                        parts.append(batch)
                        if request.stream:
                            yield replies.reply("chat_chunk", request.id, delta=batch,
                                                index=index, session_id=session.public_id)
                            index += 1
                text, label = "".join(parts), f"llm:{generation.model}"
                engine = {"engine": "llm", "model": generation.model}
            except LLMError as exc:
                engine["fallback_reason"] = exc.reason
        if model is not None:
            await asyncio.to_thread(self.engine.commit, query, answer, text, label)
        if request.stream and index == 0:
            for index, chunk in enumerate(answer.chunks):
                yield replies.reply("chat_chunk", request.id, delta=chunk, index=index,
                                    session_id=session.public_id)
        yield replies.reply(
            "chat_response", request.id,
            response=text,
            perspective=answer.perspective,
            confidence=answer.confidence,
            session_id=session.public_id,
            sources=answer.sources,
            suggestions=answer.suggestions,
            **engine,
            source="codette-knowledge-base",
        )
        self._observer(events.ChatExchanged(
            client_id=client.client_id, session_id=session.public_id,
            perspective=answer.perspective, question=request.message,
            answer=text, confidence=answer.confidence, engine=label,
        ))

    def llm_status(self) -> events.LLMStatusChanged:
        """Which engine answers chat, and the local model's state (for the dashboard)."""
        if self.model is None:
            return events.LLMStatusChanged(engine="builtin")
        return self.model.status()

    async def list_llm_models(self, settings: Settings) -> list[str]:
        """The models at ``settings.llm_url`` ("Test connection"); raises LLMError."""
        if self.model is None:
            raise LLMError("this build has no local model support")
        return await self.model.list_models(settings)

    # -- analysis ------------------------------------------------------------------------

    async def _analyze(self, request: messages.Analyze, client: ClientInfo) -> dict[str, Any]:
        job: dict[str, Any] = {"track": request.track.to_job(),
                               "analysis_type": request.analysis_type}
        if request.audio is not None:
            job = audio_job(request)
        elif request.capture_seconds is not None:
            self._authorize_capture(client, request.capture_token, consume=False, device=None,
                                    request_id=request.id)
            if self.capture is None:
                raise AudioDeviceError("capture is not available on this machine")
            samples, rate = self.capture.latest(request.capture_seconds)
            job.update(kind="audio", audio=None, samples=samples, sample_rate=rate)
        else:
            levels = request.levels.to_job() if request.levels is not None else {}
            job.update(kind="metadata", audio_data=levels)
        return await self._analysis_reply(
            request, await self.analysis.run(job, owner=client.owner), client)

    async def handle_large(
        self, frame_path: str, peek: messages.LargeFrame, client: ClientInfo
    ) -> AsyncGenerator[dict[str, Any], None]:
        outcome = await self.analysis.run_frame(frame_path, analysis_type=peek.analysis_type,
                                                owner=client.owner)
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
                message=replies.public_message(result.get("message", "analysis failed")),
                field=result.get("field"),
            )
        analysis = result["analysis"]
        session = self.session_of(client, request.session_id)
        track_name = request.track.track_name
        await asyncio.to_thread(self.engine.record_analysis, session.key, track_name, analysis)
        self._observer(events.AnalysisCompleted(
            client_id=client.client_id, track_name=track_name, analysis=analysis))
        return replies.reply(
            "analysis_response", request.id, status="success", trackId=track_id,
            analysis=analysis,
        )

    # -- capture -------------------------------------------------------------------------

    def _authorize_capture(self, client: ClientInfo, token: str | None, *, consume: bool,
                           device: int | str | None, request_id: messages.RequestId) -> None:
        """Raise not_authorized unless this client may use the microphone (consent.py)."""
        if client.capture_authorized and not consume:
            return
        settings = self.settings
        decision = self.consent.decide(consent.CapturePolicy(
            clients_may_capture=settings.allow_client_capture,
            allowed_origins=settings.capture_allowed_origins,
            denied_origins=settings.capture_denied_origins,
            can_ask=self.can_ask_user,
        ), origin=client.origin, token=token, now=time.monotonic(), consume=consume)
        if decision.verdict is consent.Verdict.ALLOW:
            client.capture_authorized = True
            return
        if decision.verdict is consent.Verdict.ASK and client.origin is not None:
            self._observer(events.CapturePermissionRequested(
                origin=client.origin, client_id=client.client_id,
                device=str(device) if device is not None else "the default input"))
        log.info("refused capture to %s (%s): %s", client.client_id,
                 client.origin or "native", decision.reason)
        raise ProtocolError("not_authorized", decision.reason, request_id=request_id)

    def answer_capture_permission(self, origin: str, answer: str) -> Settings | None:
        """The user's answer to a page's request: ``once``, ``always`` or ``deny``.

        Returns the new settings for ``always``/``deny`` (the caller saves and applies
        them; they are the settings' owner), None for ``once``.
        """
        if answer == "once":
            self.consent.grant_once(origin, time.monotonic())
            return None
        settings = self.settings
        allowed = tuple(o for o in settings.capture_allowed_origins if o != origin)
        denied = tuple(o for o in settings.capture_denied_origins if o != origin)
        if answer == "always":
            allowed += (origin,)
        else:
            denied += (origin,)
        return settings.replace(capture_allowed_origins=allowed, capture_denied_origins=denied)

    def settings_changed(self, settings: Settings) -> None:
        """Take new settings; pages whose capture permission was revoked lose their meters."""
        self.settings = settings
        self.server.settings = settings
        if self.model is not None:
            self.model.settings_changed(settings)
        for client in self.server.clients():
            if client.origin is not None and client.capture_authorized and (
                    client.origin not in settings.capture_allowed_origins
                    or not settings.allow_client_capture):
                client.capture_authorized = False
                self.server.unsubscribe(client, ["audio_levels"])

    async def _capture_start(
        self, request: messages.CaptureStart, client: ClientInfo
    ) -> dict[str, Any]:
        self._authorize_capture(client, request.capture_token, consume=True,
                                device=request.device, request_id=request.id)
        if self.capture is None:
            raise AudioDeviceError("capture is not available on this machine")
        running = self.capture.state
        if running.state == "running" and running.started_by not in (None, client.client_id):
            raise ProtocolError("not_authorized", "Another client's capture is running; it "
                                "must stop first", request_id=request.id)
        await _device_call(self.capture.start(
            device=request.device, sample_rate=request.sample_rate,
            channels=request.channels, started_by=client.client_id,
        ))
        state = self.capture.state
        log.info("capture started by %s (%s) on %s", client.client_id,
                 client.origin or "native client with the capture token", state.device_name)
        return replies.reply("capture_status", request.id, **self._capture_state(client))

    async def _capture_stop(
        self, request: messages.CaptureStop, client: ClientInfo
    ) -> dict[str, Any]:
        """A client stops only the capture it started (or one the user started, if it may
        capture itself)."""
        if self.capture is None:
            raise AudioDeviceError("capture is not available")
        started_by = self.capture.state.started_by
        if started_by != client.client_id and not (
                started_by is None and client.capture_authorized):
            raise ProtocolError("not_authorized", "This capture was not started by you",
                                request_id=request.id)
        await _device_call(self.capture.stop(f"stopped by client {client.client_id}"))
        return replies.reply("capture_status", request.id, **self._capture_state(client))

    def _capture_state(self, viewer: ClientInfo | None = None) -> dict[str, Any]:
        """The capture state as ``viewer`` may see it: who started it is "you", "the user"
        or "another client", never another client's id."""
        if self.capture is None:
            _available, reason = portaudio_status()
            return {"state": "unavailable", "message": reason or "capture disabled"}
        state = self.capture.state.to_dict()
        if viewer is not None and state.get("started_at") is not None:
            started_by = state.get("started_by")
            state["started_by"] = ("you" if started_by == viewer.client_id else
                                   "the user" if started_by is None else "another client")
        else:
            state["started_by"] = None  # nothing was started yet, or nobody asks
        return state

    # -- status --------------------------------------------------------------------------

    async def _status(self, client: ClientInfo) -> dict[str, Any]:
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
            "capture": self._capture_state(client),
            # The DAW's Memory tab shows these as percentages; engine/studio/quantum_state.py
            # says what each one measures.
            "quantum_state": quantum_state(self.usage.stats(
                knowledge_entries=len(self.knowledge),
                workers_ready=1 + int(self.analysis.warm), workers_total=2)),
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


def _prepare_for_model(engine: CodetteEngine,
                       query: ChatQuery) -> tuple[ChatAnswer, list[Message] | None]:
    """The built-in answer, unstored, and the model's prompt from its grounding (None for
    an off-topic question: retrieval refuses it and the model is never asked)."""
    answer = engine.prepare(query)
    grounding = answer.grounding
    if grounding is None or grounding.off_topic:
        return answer, None
    return answer, build_messages(grounding)
