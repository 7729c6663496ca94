"""The configured local model as the chat service uses it.

:class:`LocalModel` owns the one :class:`~codette_desktop.llm.LLMClient` made from the
``llm_*`` settings (a new one when they change; the old one is closed once its answers
are done), the per-model :class:`~codette_desktop.llm.LLMGate`, and the state the
dashboard shows, reported to the observer as
:class:`~codette_desktop.protocol.events.LLMStatusChanged`.

:meth:`LocalModel.generate` is one answer as text batches, read by a task of its own so
that deltas arriving a few ms apart go out as one ``chat_chunk``. Everything that goes
wrong with the model is an :class:`~codette_desktop.errors.LLMError` (answer with the
built-in engine and its ``reason``); a full queue is ``ProtocolError("rate_limited")``.
Closing the generation (``async with``), or cancelling the task that reads it, closes the
HTTP request, so the model server stops generating for a client that went away.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Protocol

from codette_desktop.config import Settings
from codette_desktop.errors import LLMError
from codette_desktop.llm import LLMClient, LLMGate, LLMStatus, TextStream
from codette_desktop.protocol import events

log = logging.getLogger("codette.llm")

# Deltas are sent at most once per this interval per answer: a fast model's tokens are
# merged into fewer chat_chunk messages, while a CPU model's (20 ms or more apart) each
# go out the moment they arrive.
COALESCE_S = 0.005
# The settings that make a new client.
LLM_FIELDS = ("llm_url", "llm_model", "llm_api_key", "llm_timeout_s")


class ClientFactory(Protocol):
    def __call__(self, settings: Settings, *,
                 on_status: Callable[[LLMStatus], None] | None = None) -> LLMClient: ...


class LocalModel:
    """The local model named by the settings, or none (``configured`` False).

    Create it on the event loop's thread; ``observer`` gets an ``LLMStatusChanged``
    whenever what the dashboard shows changes.
    """

    def __init__(self, settings: Settings, *, gate: LLMGate, observer: events.Observer,
                 connect: ClientFactory = LLMClient.from_settings) -> None:
        self._gate = gate
        self._observer = observer
        self._connect = connect
        self._settings = settings
        self._client: LLMClient | None = None
        self._model = ""  # the configured model, or the server's first once known
        self._error: str | None = None  # a failure the client does not see (no text)
        self._users: dict[LLMClient, int] = {}  # answers in progress per client
        self._retired: list[LLMClient] = []  # replaced, closed when their answers end
        self._closing: set[asyncio.Task[None]] = set()
        self._open(settings)

    @property
    def configured(self) -> bool:
        return self._client is not None

    def status(self) -> events.LLMStatusChanged:
        client = self._client
        if client is None:
            return events.LLMStatusChanged(engine="builtin")
        state = client.status
        return events.LLMStatusChanged(
            engine="llm", url=state.url, model=self._model, reachable=state.reachable,
            last_error=self._error or state.last_error, tokens_per_s=state.tokens_per_s,
            first_token_s=state.first_token_s)

    def settings_changed(self, settings: Settings) -> None:
        """Use new settings: a new client when an ``llm_*`` setting changed."""
        old, self._settings = self._settings, settings
        if all(getattr(old, name) == getattr(settings, name) for name in LLM_FIELDS):
            return
        previous = self._client
        self._open(settings)
        if previous is not None:
            self._retired.append(previous)
            self._close_idle()
        self._publish()

    async def aclose(self) -> None:
        """Close every client (the app is stopping)."""
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._retired.clear()
        self._client = None
        await asyncio.gather(*(c.aclose() for c in clients), *self._closing,
                             return_exceptions=True)

    def generate(self, messages: Sequence[Mapping[str, str]]) -> Generation:
        """One answer to ``messages``, as text batches (see :class:`Generation`)."""
        if self._client is None:
            raise LLMError("no local model is configured")
        settings = self._settings
        return Generation(self, self._client, messages,
                          lane=settings.llm_model or settings.llm_url)

    async def list_models(self, settings: Settings) -> list[str]:
        """The models the server at ``settings.llm_url`` offers ("Test connection"), with
        a client of its own: the settings may not be saved yet. Raises LLMError."""
        if not settings.llm_url:
            raise LLMError("no model server URL is set")
        async with self._connect(settings) as client:
            return await client.list_models()

    # -- internals -------------------------------------------------------------------------

    def _open(self, settings: Settings) -> None:
        self._model = settings.llm_model
        self._error = None
        self._client = None
        if settings.llm_url:
            client = self._connect(settings, on_status=lambda _s: self._on_status(client))
            self._client = client
            log.info("chat answers from the local model at %s (%s)", client.base_url,
                     settings.llm_model or "the server's first model")
        else:
            log.info("chat answers from the built-in engine (no llm_url)")

    def _on_status(self, client: LLMClient) -> None:
        if client is self._client:
            self._error = None
            self._publish()

    def _publish(self) -> None:
        self._observer(self.status())

    async def _model_of(self, client: LLMClient) -> str:
        if client is self._client and self._model:
            return self._model
        model = await client.pick_model(self._settings.llm_model)
        if client is self._client and model != self._model:
            self._model = model
            self._publish()
        return model

    def _failed(self, client: LLMClient, reason: str) -> LLMError:
        """A failure found here rather than by the client; shown until its next report."""
        log.warning("local model: %s", reason)
        if client is self._client:
            self._error = reason
            self._publish()
        return LLMError(reason)

    def _enter(self, client: LLMClient) -> None:
        self._users[client] = self._users.get(client, 0) + 1

    def _leave(self, client: LLMClient) -> None:
        self._users[client] -= 1
        if not self._users[client]:
            del self._users[client]
            self._close_idle()

    def _close_idle(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop yet: aclose() closes them
            return
        for client in [c for c in self._retired if c not in self._users]:
            self._retired.remove(client)
            task = loop.create_task(client.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


_END = object()  # the stream ended normally


class Generation(TextStream):
    """One streamed answer: ``async with model.generate(messages) as g: async for text in
    g``. ``model`` names the model once the first batch came. Closing it cancels the
    reading task, which closes the request to the model.

    A task of its own waits for a slot in the model's queue (``rate_limited`` past the
    bound), finds the model and reads the stream; connecting, finding the model and the
    first token share one deadline, ``llm_timeout_s``. Batches are the deltas that came
    within :data:`COALESCE_S` of each other; an answer with no text is an LLMError too.
    """

    def __init__(self, owner: LocalModel, client: LLMClient,
                 messages: Sequence[Mapping[str, str]], *, lane: str) -> None:
        self.model = ""
        self._owner = owner
        self._client = client
        self._messages = messages
        self._lane = lane
        super().__init__(self._run())

    async def _run(self) -> AsyncGenerator[str, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        reader = loop.create_task(self._read(queue))
        try:
            sent_at = -math.inf
            any_text = False
            while True:
                items = [await queue.get()]
                wait = sent_at + COALESCE_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                while not queue.empty():
                    items.append(queue.get_nowait())
                end = items[-1]  # the reader puts the end (or its error) last
                if isinstance(end, BaseException):
                    raise end
                text = "".join(item for item in items if isinstance(item, str))
                if text:
                    any_text = any_text or bool(text.strip())
                    yield text
                    sent_at = loop.time()
                if end is _END:
                    break
            if not any_text:
                raise self._owner._failed(self._client, "the model answered with no text")
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, queue: asyncio.Queue[object]) -> None:
        owner, client = self._owner, self._client
        owner._enter(client)
        try:
            async with owner._gate.slot(self._lane):
                deadline = asyncio.get_running_loop().time() + client.timeout_s
                self.model = await owner._model_of(client)
                async with client.stream_chat(self._messages, model=self.model,
                                              first_token_by=deadline) as stream:
                    async for delta in stream:
                        queue.put_nowait(delta)
            queue.put_nowait(_END)
        except Exception as exc:  # the reader's consumer raises it (LLMError, rate_limited)
            queue.put_nowait(exc)
        finally:
            owner._leave(client)
