"""Live capture from one audio input: a PortAudio stream, a ring buffer, meters, a watchdog.

Threads, and what runs on each:

- PortAudio's callback thread runs :meth:`_Session.callback` only. It copies the block into
  the preallocated :class:`RingBuffer`, counts PortAudio's overflow flag and hands off to
  the loop with ``loop.call_soon_threadsafe`` — no locks, logging or work beyond that
  (python-sounddevice ``examples/asyncio_generators.py``), because anything slower than
  the block period makes PortAudio drop input.
- One worker thread makes every blocking PortAudio call (rescan, open, start, close).
  They can block for a second or more, and PortAudio is not thread-safe, so they are
  serialised on a single-thread executor and never run on the loop.
- The event loop does everything else: the continuity check (per block), metering (per
  event, over all frames since the previous one), events, state and the watchdog.

Events, all emitted on the loop thread through the ``observer`` callable:

- ``CaptureStateChanged`` on every state change: ``running`` (with device and
  ``started_by``), ``stopped`` (with the reason), ``error`` (with what went wrong).
  ``details`` is :meth:`CaptureState.to_dict`.
- ``LevelsMeasured`` while running, at most ``meter_rate_hz``: the hand-off of the first
  block after an interval has passed meters every frame since the previous event
  (peak/RMS per channel, streaming loudness) and emits at once, so an event is as old as
  that processing (p50 0.7 ms, bench/capture_bench.py). Events are at least
  ``1/meter_rate_hz`` apart, so the rate is the largest multiple of the block period
  that fits (about 25 Hz with PulseAudio's ~9 ms blocks). No timer is involved: when no
  audio arrives, no levels are sent.

Watchdog: the first stream of a process can take up to ~2 s to deliver its first block
(measured 0.5–0.9 s through PulseAudio here), so :meth:`CaptureService.start` returns
once the stream is open and the watchdog allows ``first_block_timeout_s`` for the first
block, then ``stall_timeout_s`` between blocks. It reads progress from the ring buffer,
not from hand-offs, so a busy loop is not mistaken for a dead device.

Overflows (``CaptureState.overflows``, ``LevelsMeasured.overflows``) count the times
input was lost, from two sources, each loss counted once:

- blocks that carry PortAudio's ``input_overflow`` callback flag;
- gaps between the frames received and the time elapsed, from the blocks'
  ``time_info.inputBufferAdcTime`` (see :mod:`.continuity`), because the flag depends on
  the host API noticing the loss, and not every host or plugin reports every loss.
  A gap found within the tracker's window after a flagged block is that same loss.

Errors: :meth:`CaptureService.start` raises :class:`AudioDeviceError` (no PortAudio,
unknown device, open failed) after setting the state to ``error``. A stream that dies
while running (PortAudio error, finished callback, no data for ``stall_timeout_s``)
becomes state ``error`` with a message; nothing is raised, and ``start`` may be called
again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np

from codette_desktop.capture.continuity import ContinuityTracker
from codette_desktop.capture.devices import (
    import_sounddevice,
    list_input_devices,
    refresh_portaudio,
    resolve_input_device,
)
from codette_desktop.capture.meters import LevelMeter
from codette_desktop.capture.ring_buffer import RingBuffer
from codette_desktop.errors import AnalysisError, AudioDeviceError
from codette_desktop.protocol.events import CaptureStateChanged, LevelsMeasured

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

STOPPED = "stopped"
RUNNING = "running"
ERROR = "error"


@dataclass(frozen=True)
class CaptureState:
    """A snapshot of the capture. After a stop or an error the device fields, ``frames``
    and ``overflows`` still describe the last stream, so a UI can say what stopped."""

    state: str  # "stopped" | "running" | "error"
    device_index: int | None = None
    device_name: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    started_by: str | None = None
    started_at: float | None = None  # time.time() when the stream was opened
    frames: int = 0  # frames captured by the stream
    overflows: int = 0  # blocks after which input was lost (see the module docstring)
    message: str | None = None  # why it stopped, or what went wrong

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with every field; ``started_at`` as ISO-8601 UTC like every
        other time on the wire."""
        out = asdict(self)
        if self.started_at is not None:
            out["started_at"] = datetime.fromtimestamp(self.started_at, UTC).isoformat()
        return out


class _Session:
    """One open stream and everything that dies with it.

    The callback-side fields (``ring``, ``flagged_overflows``) are written only by the
    audio thread; the rest only on the loop.
    """

    def __init__(
        self,
        *,
        device: dict[str, Any],
        sample_rate: int,
        channels: int,
        started_by: str | None,
        ring_seconds: float,
        loop: asyncio.AbstractEventLoop,
        on_block: Callable[[_Session, int, float, int], None],
        on_finished: Callable[[_Session], None],
    ) -> None:
        self.device_index = int(device["index"])
        self.device_name = str(device["name"])
        self.sample_rate = sample_rate
        self.channels = channels
        self.started_by = started_by
        self.started_at = time.time()
        # One second of headroom: the block being written never overlaps frames being read
        # as long as blocks are shorter than a second (PortAudio's are milliseconds).
        self.ring = RingBuffer(
            frames=max(1, int(ring_seconds * sample_rate)), channels=channels, headroom=sample_rate
        )
        self.stream: Any = None
        self.flagged_overflows = 0  # written by the audio thread
        # Loop side.
        self.closing = False
        self.finished = False
        self.opened_at = time.monotonic()
        self.watch_frames = 0
        self.last_progress_at = self.opened_at
        self.received_frames = 0
        self.continuity = ContinuityTracker(sample_rate=sample_rate)
        self.blocks = 0
        self.flagged_seen = 0
        self.last_flagged_block = -(1 << 30)
        self.unflagged_gaps = 0
        self.metered_upto = 0
        # Imported here: scipy.signal costs the server a second at start-up otherwise.
        from codette_desktop.analysis.loudness import StreamingLoudnessMeter

        self.meter = LevelMeter(
            channels=channels, loudness=StreamingLoudnessMeter(sample_rate, channels)
        )
        self.last_emit_at = -math.inf
        self._call_soon_threadsafe = loop.call_soon_threadsafe
        self._on_block = on_block
        self._on_finished = on_finished

    @property
    def overflows(self) -> int:
        return self.flagged_overflows + self.unflagged_gaps

    # -- audio thread -------------------------------------------------------------------

    def callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's callback: copy, count, hand off. Nothing else belongs here."""
        self.ring.write(indata)
        if status.input_overflow:
            self.flagged_overflows += 1
        # try/except, not contextlib.suppress: no context-manager object per block.
        try:  # noqa: SIM105
            self._call_soon_threadsafe(
                self._on_block, self, frames, time_info.inputBufferAdcTime, self.flagged_overflows
            )
        except RuntimeError:  # the loop is closed: the process is shutting down
            pass

    def finished_callback(self) -> None:
        """PortAudio's stream-finished callback (after an error, an abort or a close)."""
        try:  # noqa: SIM105 (same as in callback)
            self._call_soon_threadsafe(self._on_finished, self)
        except RuntimeError:
            pass

    # -- worker thread ------------------------------------------------------------------

    def close_stream(self) -> None:
        if self.stream is not None:
            # Pa_CloseStream aborts an active stream, discarding what is buffered.
            self.stream.close(ignore_errors=True)

    def snapshot(self, state: str, message: str | None) -> CaptureState:
        return CaptureState(
            state=state,
            device_index=self.device_index,
            device_name=self.device_name,
            sample_rate=self.sample_rate,
            channels=self.channels,
            started_by=self.started_by,
            started_at=self.started_at,
            frames=self.ring.frames_total,
            overflows=self.overflows,
            message=message,
        )


async def _to_the_end(work: asyncio.Future[_T]) -> _T:
    """Await work on the PortAudio thread; if the caller is cancelled meanwhile, wait for
    the work to end before the cancellation goes on. An open or close left running while
    the caller moves on (a client that sends ``capture_stop`` and hangs up) raced the next
    PortAudio call or the process's exit: the tests saw the process crash."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait((work,))
        raise


class CaptureService:
    """Captures one input device at a time; see the module docstring for threads and events.

    Use it from one event loop: ``await start(...)``, read :attr:`state`,
    :attr:`latest_levels` and :meth:`latest`, ``await stop()``, and ``await close()``
    before the loop ends.
    """

    def __init__(
        self,
        *,
        observer: Callable[[object], None],
        loop: asyncio.AbstractEventLoop | None = None,
        ring_seconds: float = 60.0,
        meter_rate_hz: float = 30.0,
        stall_timeout_s: float = 1.0,
        first_block_timeout_s: float = 3.0,
    ) -> None:
        if ring_seconds <= 0 or meter_rate_hz <= 0:
            raise ValueError("ring_seconds and meter_rate_hz must be positive")
        if stall_timeout_s <= 0 or first_block_timeout_s <= 0:
            raise ValueError("the watchdog timeouts must be positive")
        self._observer = observer
        self._loop = loop
        self._ring_seconds = ring_seconds
        self._emit_interval = 1.0 / meter_rate_hz
        self._stall_timeout = stall_timeout_s
        self._first_block_timeout = first_block_timeout_s
        # Watchdog resolution: a small fraction of the stall timeout, so a lost device is
        # reported within stall_timeout_s + 50 ms.
        self._watch_interval = min(0.05, stall_timeout_s / 4)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="codette-portaudio"
        )
        self._lock = asyncio.Lock()  # start/stop/close/list_devices, one at a time
        self._session: _Session | None = None
        self._state = CaptureState(state=STOPPED)
        self._latest_levels: LevelsMeasured | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._pending_closes: set[asyncio.Future[None]] = set()
        self._closed = False

    # -- public API -----------------------------------------------------------------------

    @property
    def state(self) -> CaptureState:
        """The current state; while running, ``frames`` and ``overflows`` are live."""
        session = self._session
        if session is not None:
            return session.snapshot(RUNNING, None)
        return self._state

    @property
    def latest_levels(self) -> LevelsMeasured | None:
        """The last ``LevelsMeasured`` emitted by the running stream (None when not running)."""
        return self._latest_levels

    async def list_devices(self) -> list[dict[str, Any]]:
        """:func:`list_input_devices`, rescanned when no stream is open, on the PortAudio
        thread. Prefer this over the plain function while the service exists."""
        loop = self._running_loop()
        async with self._lock:
            refresh = self._session is None
            return await loop.run_in_executor(
                self._executor, functools.partial(list_input_devices, refresh=refresh)
            )

    async def start(
        self,
        *,
        device: int | str | None = None,
        sample_rate: int | None = None,
        channels: int | None = None,
        started_by: str | None = None,
    ) -> CaptureState:
        """Open ``device`` (default input if None) and start capturing; return the state.

        Returns once the stream is open and started, without waiting for the first block
        (that can take ~2 s for the first stream of a process on ALSA). Defaults: the
        device's default sample rate, ``min(2, max_input_channels)`` channels. A running
        capture is stopped first. Raises :class:`AudioDeviceError` with the reason (state
        becomes ``error``).
        """
        loop = self._running_loop()
        async with self._lock:
            if self._closed:
                raise AudioDeviceError("the capture service has been closed")
            if self._session is not None:
                await self._stop_session(self._session, "restarting with new settings")
            # Streams closed after an error must be gone before PortAudio is re-initialised.
            await self._wait_pending_closes()
            opener = functools.partial(
                self._open_blocking, loop, device, sample_rate, channels, started_by
            )
            opening = loop.run_in_executor(self._executor, opener)
            try:
                session = await _to_the_end(opening)
            except AudioDeviceError as exc:
                self._set_state(CaptureState(state=ERROR, started_by=started_by, message=str(exc)))
                raise
            except asyncio.CancelledError:  # the caller gave up, but the stream did open
                if not opening.cancelled() and opening.exception() is None:
                    await self._close_stream(opening.result())
                raise
            self._session = session
            self._latest_levels = None
            self._set_state(session.snapshot(RUNNING, None))
            self._watchdog = loop.create_task(self._watch(session), name="capture-watchdog")
            return self.state

    async def stop(self, reason: str = "stopped by user") -> CaptureState:
        """Stop capturing (no-op if stopped); an ``error`` state becomes ``stopped``."""
        async with self._lock:
            session = self._session
            if session is not None:
                await self._stop_session(session, reason)
            elif self._state.state == ERROR:
                self._set_state(replace(self._state, state=STOPPED, message=reason))
            return self.state

    def latest(self, seconds: float) -> tuple[np.ndarray, int]:
        """A copy of the newest ``seconds`` of audio, float32 ``(frames, channels)``, and
        the sample rate. Less if less was captured (at most ``ring_seconds``).

        Raises :class:`AudioDeviceError` if capture is not running or nothing has arrived.
        """
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, got {seconds!r}")
        session = self._session
        if session is None:
            raise AudioDeviceError("audio capture is not running; start it first")
        if session.ring.frames_total == 0:
            raise AudioDeviceError(f"no audio has arrived from {session.device_name!r} yet")
        count = math.ceil(seconds * session.sample_rate)
        return session.ring.read_latest(count), session.sample_rate

    async def close(self) -> None:
        """Stop capturing and release the PortAudio thread. The service cannot restart."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._session is not None:
                await self._stop_session(self._session, "capture service closed")
            await self._wait_pending_closes()
        self._executor.shutdown(wait=False)

    # -- worker thread --------------------------------------------------------------------

    def _open_blocking(
        self,
        loop: asyncio.AbstractEventLoop,
        device: int | str | None,
        sample_rate: int | None,
        channels: int | None,
        started_by: str | None,
    ) -> _Session:
        sd = import_sounddevice()
        try:
            # No stream is open here (start() closed it), so a rescan is safe; it makes a
            # device plugged in, or a sound server started, since the last one visible.
            refresh_portaudio(sd)
        except Exception as exc:
            raise AudioDeviceError(f"PortAudio could not be initialised: {exc}") from exc
        info = resolve_input_device(list_input_devices(), device)
        name = info["name"]
        rate = int(sample_rate) if sample_rate is not None else round(info["default_samplerate"])
        if rate <= 0:
            raise AudioDeviceError(f"invalid sample rate {sample_rate!r}")
        max_channels = int(info["max_input_channels"])
        count = int(channels) if channels is not None else min(2, max_channels)
        if not 1 <= count <= max_channels:
            raise AudioDeviceError(
                f"{name!r} has {max_channels} input channel(s); {count} requested"
            )
        try:
            session = _Session(
                device=info,
                sample_rate=rate,
                channels=count,
                started_by=started_by,
                ring_seconds=self._ring_seconds,
                loop=loop,
                on_block=self._on_block,
                on_finished=self._on_finished,
            )
        except (AnalysisError, ValueError, MemoryError) as exc:  # e.g. a rate the meter refuses
            raise AudioDeviceError(f"cannot capture from {name!r} at {rate} Hz: {exc}") from exc
        what = f"{name!r} at {rate} Hz with {count} channel(s)"
        try:
            session.stream = sd.InputStream(
                device=session.device_index,
                samplerate=rate,
                channels=count,
                dtype="float32",
                callback=session.callback,
                finished_callback=session.finished_callback,
            )
        except Exception as exc:
            raise AudioDeviceError(f"could not open {what}: {exc}") from exc
        try:
            session.stream.start()
        except Exception as exc:
            session.close_stream()
            raise AudioDeviceError(f"could not start {what}: {exc}") from exc
        session.opened_at = session.last_progress_at = time.monotonic()
        return session

    # -- loop side ------------------------------------------------------------------------

    def _on_block(self, session: _Session, frames: int, adc_time: float, flagged: int) -> None:
        """The hand-off of one block: check continuity; if an event is due, meter and emit."""
        if session.closing:
            return
        first = session.received_frames
        session.received_frames += frames
        session.blocks += 1
        if flagged > session.flagged_seen:
            session.flagged_seen = flagged
            session.last_flagged_block = session.blocks
        continuity = session.continuity
        gaps_before = continuity.gaps
        continuity.observe(first, frames, adc_time)
        # The tracker sees a gap a few blocks late (its median window); a gap that soon
        # after a flagged block is the loss PortAudio already reported.
        if (
            continuity.gaps > gaps_before
            and session.blocks - session.last_flagged_block > 2 * continuity.window
        ):
            session.unflagged_gaps += 1
        now = time.monotonic()
        if session is not self._session or now - session.last_emit_at < self._emit_interval:
            return
        # Meter everything since the last event in one go, up to the newest block in the
        # ring: one filter call per event instead of one per block (a quarter of the CPU
        # at ~9 ms blocks), and hand-offs queued behind a busy loop coalesce for free.
        block, _first, session.metered_upto = session.ring.read_since(session.metered_upto)
        if block.shape[0] == 0:
            return
        session.meter.process(block)
        at = session.last_emit_at = time.monotonic()
        peak, rms = session.meter.take()
        levels = LevelsMeasured(
            peak_dbfs=peak,
            rms_dbfs=rms,
            momentary_lufs=session.meter.momentary_lufs,
            short_term_lufs=session.meter.short_term_lufs,
            overflows=session.overflows,
            at=at,
        )
        self._latest_levels = levels
        self._emit(levels)

    def _on_finished(self, session: _Session) -> None:
        session.finished = True
        self._fail(
            session,
            f"the audio stream from {session.device_name!r} ended unexpectedly "
            "(PortAudio reported an error or the device went away)",
        )

    async def _watch(self, session: _Session) -> None:
        """Declare the device lost when its stream stops delivering."""
        while True:
            await asyncio.sleep(self._watch_interval)
            if session is not self._session or session.closing:
                return
            if session.finished:
                self._on_finished(session)
                return
            now = time.monotonic()
            # Progress is read from the ring, not from hand-offs, so a loop that was busy
            # for a while (hand-offs still queued) is not mistaken for a dead device.
            total = session.ring.frames_total
            if total != session.watch_frames:
                session.watch_frames = total
                session.last_progress_at = now
            elif total == 0 and now - session.opened_at > self._first_block_timeout:
                self._fail(
                    session,
                    f"no audio arrived from {session.device_name!r} within "
                    f"{self._first_block_timeout:g} s of opening it",
                )
                return
            elif total > 0 and now - session.last_progress_at > self._stall_timeout:
                self._fail(
                    session,
                    f"{session.device_name!r} stopped delivering audio (nothing for "
                    f"{self._stall_timeout:g} s): the device was disconnected or its "
                    "sound server stopped",
                )
                return

    def _fail(self, session: _Session, message: str) -> None:
        """The running stream died: report ``error`` now, close the stream in the background."""
        if session.closing or session is not self._session:
            return
        session.closing = True
        self._session = None
        self._latest_levels = None
        logger.warning("audio capture failed: %s", message)
        self._set_state(session.snapshot(ERROR, message))
        loop = self._running_loop()
        future = loop.run_in_executor(self._executor, session.close_stream)
        self._pending_closes.add(future)
        future.add_done_callback(self._on_close_done)

    def _on_close_done(self, future: asyncio.Future[None]) -> None:
        self._pending_closes.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.warning("closing a failed audio stream raised: %s", future.exception())

    async def _wait_pending_closes(self) -> None:
        if self._pending_closes:
            await asyncio.gather(*self._pending_closes, return_exceptions=True)

    async def _stop_session(self, session: _Session, reason: str) -> None:
        self._session = None
        self._latest_levels = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        try:
            await self._close_stream(session)
        finally:  # also when the caller was cancelled: the stream is closed by now
            self._set_state(session.snapshot(STOPPED, reason))

    async def _close_stream(self, session: _Session) -> None:
        """Close the stream on the PortAudio thread and wait for it, even when the caller is
        cancelled; a failing close is logged, as the stream is abandoned either way."""
        session.closing = True
        try:
            await _to_the_end(
                self._running_loop().run_in_executor(self._executor, session.close_stream))
        except Exception as exc:
            logger.warning("closing the audio stream raised: %s", exc)

    def _set_state(self, state: CaptureState) -> None:
        self._state = state
        self._emit(
            CaptureStateChanged(
                state=state.state,
                device=state.device_name,
                started_by=state.started_by,
                message=state.message,
                details=state.to_dict(),
            )
        )

    def _emit(self, event: object) -> None:
        # An observer bug must not stop the capture or the meters; it is logged instead.
        try:
            self._observer(event)
        except Exception:
            logger.exception("capture observer failed on %s", type(event).__name__)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop
