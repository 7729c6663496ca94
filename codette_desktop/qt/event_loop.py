"""An asyncio loop on Qt's event loop that runs all ready callbacks in one batch.

qasync's :class:`~qasync.QEventLoop` turns every ``call_soon`` into a zero-timeout Qt timer
(``startTimer(0)`` … ``timerEvent`` … ``killTimer``): a Qt round trip and two bindings
calls per callback, and every coroutine step, future callback and socket read is one. This
subclass keeps qasync's integration of sockets, threads and executors, but schedules the
way asyncio itself does: ``call_soon`` appends to the loop's ready queue, ``call_later`` /
``call_at`` push onto its timer heap, and one single-shot :class:`QTimer` — armed for 0 ms
while anything is ready, else for the earliest deadline, else stopped — runs one asyncio
iteration per Qt iteration: the timers that are due, then every callback that was ready
when the batch started. What a batch makes ready runs in further rounds of the same tick,
each after a poll of the sockets, as asyncio's own loop would run it, for at most
``ROUNDS_BUDGET_S``; then Qt processes its own events, so a callback that reschedules
itself forever cannot starve the GUI. A socket that turns readable runs its batch from the
notifier at once.

Usage::

    app = QCoreApplication(sys.argv[:1])   # or QApplication
    loop = FastQEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main())

Differences from stock qasync, all of them asyncio's own behaviour:

* timers do not fire early: qasync truncates the delay to whole milliseconds on a coarse
  Qt timer; here a deadline is due only once ``loop.time()`` has reached it;
* ``call_soon_threadsafe`` returns a cancellable :class:`asyncio.Handle`;
* callbacks run only while the loop runs (between two ``run_until_complete`` calls
  nothing runs; the next run picks up what is ready);
* a callback that blocks in a nested Qt event loop (``QDialog.exec()``) holds up the
  other callbacks until it returns; under qasync they ran inside the nested loop.

Sockets (POSIX): qasync gives every file descriptor a ``QSocketNotifier`` of its own, and
Qt's dispatcher polls every notifier on every pass — with a thousand idle WebSocket
clients each pass scanned a thousand descriptors, and each pause/resume of a socket made
and destroyed a notifier. Here asyncio's own selector (epoll, kqueue) holds the sockets and
one notifier watches the selector's descriptor: Qt polls one descriptor, the kernel says
which sockets are ready, and asyncio's ``_process_events`` queues their callbacks for the
batch, exactly as asyncio's ``_run_once`` does. (Windows keeps qasync's proactor.)
"""

from __future__ import annotations

import asyncio
import heapq
import math
import selectors
import sys
from asyncio.log import logger as asyncio_logger
from collections import deque
from collections.abc import Callable
from contextvars import Context
from typing import Any

import qasync
from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Qt, QTimer, Signal

# Longest single Qt timer interval; a later deadline is re-armed when it fires. Qt takes
# an int of milliseconds, and asyncio caps its own poll timeout at one day too
# (base_events.MAXIMUM_SELECT_TIMEOUT).
MAX_TIMER_MS = 24 * 3600 * 1000

# One tick runs rounds of ready callbacks (with a socket poll before each) for at most
# this long before Qt processes its own events: the GUI waits a millisecond at most.
ROUNDS_BUDGET_S = 0.001

# Like asyncio's _run_once: rebuild the timer heap when over half of more than this many
# entries are cancelled, so that cancelled far-off timeouts do not pile up.
MIN_SCHEDULED_FOR_CLEANUP = 100

# A selector with a descriptor of its own that turns readable when any socket is ready.
NATIVE_SELECTOR = sys.platform != "win32" and (
    hasattr(selectors, "EpollSelector") or hasattr(selectors, "KqueueSelector"))
_Base: Any = asyncio.selector_events.BaseSelectorEventLoop  # private methods: not in typeshed


class _ThreadWaker(QObject):
    """Lives on the loop thread; emitting ``woke`` from any thread runs the slot there."""

    woke = Signal()


class FastQEventLoop(qasync.QEventLoop):
    """qasync's loop with asyncio's batching: one Qt timer tick runs every ready callback.

    Construct it with the (already created) ``QCoreApplication``/``QApplication``; use it
    like any qasync loop (``run_until_complete``, ``run_forever``, ``stop``, ``close``).
    Open dialogs with ``open()``, not ``exec()``, from asyncio code: a nested Qt event
    loop inside a callback holds up the other callbacks, as blocking does in asyncio.
    """

    # asyncio.BaseEventLoop's scheduling state, which this class drives.
    _ready: deque[asyncio.Handle]
    _scheduled: list[Any]  # TimerHandles; typeshed lacks their _when and _scheduled
    _timer_cancelled_count: int
    _clock_resolution: float
    _current_handle: asyncio.Handle | None
    _debug: bool

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._tick = QTimer()
        self._tick.setSingleShot(True)
        # A coarse timer may fire up to 5 % early or late; deadlines need the millisecond.
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.timeout.connect(self._on_tick_fired)
        self._tick_due_now = False  # armed at 0 ms because callbacks are ready
        # The deadline the armed tick serves (loop time; 0.0: at once), None if stopped. Kept
        # here so that a batch that leaves the earliest deadline as it was does not restart
        # the Qt timer (a binding call and a timer re-registration per batch).
        self._tick_at: float | None = None
        # Mirrors the notifier's enabled state: isEnabled()/setEnabled() per batch were
        # binding calls on every request's path.
        self._io_enabled = True
        self._in_batch = False
        self._thread_waker = _ThreadWaker()
        self._thread_waker.woke.connect(self._on_thread_waker_woke)
        self._outer_asyncgen_hooks: Any = None  # sys.get_asyncgen_hooks() while running

    # Scheduling: asyncio's own methods (qasync's start a Qt timer per callback), plus a
    # wake-up of the tick.

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.BaseEventLoop.call_soon(self, callback, *args, context=context)
        if not self._tick_due_now:
            self._wake()
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        return asyncio.BaseEventLoop.call_later(self, delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        timer = asyncio.BaseEventLoop.call_at(self, when, callback, *args, context=context)
        # A new earliest deadline moves the tick forward; otherwise it is already armed
        # early enough (or due now, and the batch re-arms it afterwards).
        if not self._tick_due_now and not self._in_batch and self._scheduled[0] is timer:
            self._arm()
        return timer

    def call_soon_threadsafe(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        # asyncio's: append to the ready queue (a deque: safe from any thread), then
        # _write_to_self(). qasync's version returns no handle.
        return asyncio.BaseEventLoop.call_soon_threadsafe(self, callback, *args, context=context)

    def _write_to_self(self) -> None:
        # asyncio wakes its selector from other threads through a self-pipe; under qasync
        # only the Unix loop reads that pipe (on Windows it never starts the proactor's
        # self-reading), so wake Qt instead: a signal emitted from another thread is
        # queued to the loop thread.
        self._thread_waker.woke.emit()

    def _on_thread_waker_woke(self) -> None:
        if not self._tick_due_now and not self.is_closed():
            self._wake()

    # Socket I/O: asyncio's selector behind one Qt notifier (see the module docstring).

    def _io_ready_notifier(self) -> QSocketNotifier:
        """The notifier on the selector, made on first use: asyncio registers its self-pipe
        from BaseSelectorEventLoop.__init__, before this class's __init__ runs."""
        notifier: QSocketNotifier | None = self.__dict__.get("_io_notifier")
        if notifier is None:
            # qasync's selector turns each registration into a notifier of its own; nothing
            # is registered in it yet (qasync's _add_reader bypasses it), so replace it.
            self._selector = selectors.DefaultSelector()
            notifier = QSocketNotifier(self._selector.fileno(), QSocketNotifier.Type.Read)
            notifier.activated.connect(self._on_io_notifier_activated)
            self._io_notifier = notifier
        return notifier

    def _add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> Any:
        if not NATIVE_SELECTOR:
            return super()._add_reader(fd, callback, *args)
        self._io_ready_notifier()
        return _Base._add_reader(self, fd, callback, *args)

    def _remove_reader(self, fd: Any) -> Any:
        if not NATIVE_SELECTOR:
            return super()._remove_reader(fd)
        self._io_ready_notifier()
        return _Base._remove_reader(self, fd)

    def _add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> Any:
        if not NATIVE_SELECTOR:
            return super()._add_writer(fd, callback, *args)
        self._io_ready_notifier()
        return _Base._add_writer(self, fd, callback, *args)

    def _remove_writer(self, fd: Any) -> Any:
        if not NATIVE_SELECTOR:
            return super()._remove_writer(fd)
        self._io_ready_notifier()
        return _Base._remove_writer(self, fd)

    def _on_io_notifier_activated(self) -> None:
        # Level-triggered: the selector stays readable until the queued callbacks have read
        # their sockets. The batch below reads them at once; where it cannot run, the
        # notifier rests until it has (_arm wakes it), or Qt would call this in a spin.
        if self.is_closed() or not self.is_running():
            self._disable_io_notifier()
            return
        self._process_events(self._selector.select(0))
        if self._in_batch:  # a nested Qt event loop inside a callback: the batch re-arms
            self._disable_io_notifier()
            if self._ready:
                self._wake()
            return
        # Run the batch now, as asyncio's _run_once runs it right after the poll: waiting
        # for a 0 ms timer cost every read a second pass through Qt's event loop.
        self._on_tick_timeout()

    def _disable_io_notifier(self) -> None:
        if self._io_enabled:
            self._io_enabled = False
            self._io_notifier.setEnabled(False)

    def _add_callback(self, handle: asyncio.Handle) -> None:
        # asyncio queues signal handlers (add_signal_handler) through this and then calls
        # _write_to_self(), which wakes the tick; qasync's version starts a Qt timer per
        # handle instead. The body is asyncio's.
        if not handle._cancelled:
            self._ready.append(handle)

    # The tick.

    def _wake(self) -> None:
        """Run the ready callbacks in the next Qt event-loop iteration."""
        self._tick_due_now = True
        if not self._in_batch:  # the batch re-arms the timer when it ends
            self._tick.start(0)
            self._tick_at = 0.0

    def _arm(self) -> None:
        """Point the tick at what comes next: ready callbacks, the earliest timer, or idle."""
        if not self._io_enabled and self.is_running():
            self._io_enabled = True
            self._io_notifier.setEnabled(True)  # after a batch: sockets may be ready again
        if self._ready:
            self._tick_due_now = True
            self._tick.start(0)
            self._tick_at = 0.0
        elif self._scheduled:
            self._tick_due_now = False
            when = self._scheduled[0]._when
            if self._tick_at is not None and self._tick_at <= when:
                return  # armed early enough already: it fires, finds nothing due, re-arms
            # Round up: a deadline is due only once loop.time() has reached it.
            delay_ms = min(max(math.ceil((when - self.time()) * 1000), 0), MAX_TIMER_MS)
            self._tick.start(delay_ms)
            self._tick_at = when
        else:
            self._tick_due_now = False
            if self._tick_at is not None:
                self._tick.stop()  # idle: no Qt timer at all, so the process sleeps
                self._tick_at = None

    def _on_tick_fired(self) -> None:
        self._tick_at = None  # single-shot: it is stopped now
        self._on_tick_timeout()

    def _on_tick_timeout(self) -> None:
        if not self.is_running():
            # Between runs (qasync's last processEvents after run_until_complete):
            # _before_run_forever re-arms the tick.
            self._tick_due_now = False
            return
        self._in_batch = True
        try:
            self._run_batch()
            # What the batch made ready runs now too, after a poll of the sockets, as
            # asyncio's loop would; Qt gets its turn after ROUNDS_BUDGET_S at the latest.
            # A Qt pass per round cost each request two more trips through Qt's loop.
            rounds_end = self.time() + ROUNDS_BUDGET_S
            while self._ready and self.is_running() and self.time() < rounds_end:
                if "_io_notifier" in self.__dict__:
                    self._process_events(self._selector.select(0))
                self._run_batch()
        finally:
            self._in_batch = False
            self._arm()

    def _run_batch(self) -> None:
        """asyncio's ``_run_once`` without the I/O poll (Qt's dispatcher does that)."""
        self._tick_due_now = False
        scheduled = self._scheduled
        if (
            len(scheduled) > MIN_SCHEDULED_FOR_CLEANUP
            and self._timer_cancelled_count > len(scheduled) // 2
        ):
            for timer in scheduled:
                if timer._cancelled:
                    timer._scheduled = False
            self._scheduled = scheduled = [t for t in scheduled if not t._cancelled]
            heapq.heapify(scheduled)
            self._timer_cancelled_count = 0
        due = self.time() + self._clock_resolution
        while scheduled and (scheduled[0]._cancelled or scheduled[0]._when < due):
            timer = heapq.heappop(scheduled)
            timer._scheduled = False
            if timer._cancelled:
                self._timer_cancelled_count -= 1
            else:
                self._ready.append(timer)
        # Only what is ready now; Handle._run() hands exceptions to the exception handler.
        ready = self._ready
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            if self._debug:
                self._run_timed(handle)
            else:
                handle._run()

    def _run_timed(self, handle: asyncio.Handle) -> None:
        """Debug mode: warn about slow callbacks, as asyncio does."""
        self._current_handle = handle
        try:
            start = self.time()
            handle._run()
            took = self.time() - start
            if took >= self.slow_callback_duration:
                asyncio_logger.warning("Executing %r took %.3f seconds", handle, took)
        finally:
            self._current_handle = None

    # Lifecycle.

    def _before_run_forever(self) -> None:
        super()._before_run_forever()
        # As asyncio's run_forever does (qasync does not): an async generator dropped
        # unfinished (httpx nests several in a streamed response) is closed by an aclose()
        # task on this loop, not by the garbage collector, where its finally cannot await.
        if self._outer_asyncgen_hooks is None:
            self._outer_asyncgen_hooks = sys.get_asyncgen_hooks()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
        self._arm()  # pick up what was scheduled while the loop was not running

    def _after_run_forever(self) -> None:
        if self._outer_asyncgen_hooks is not None:
            sys.set_asyncgen_hooks(*self._outer_asyncgen_hooks)
            self._outer_asyncgen_hooks = None
        super()._after_run_forever()

    def close(self) -> None:
        notifier = self.__dict__.get("_io_notifier")
        if notifier is not None:
            self._disable_io_notifier()  # before asyncio's close() closes the selector
            notifier.activated.disconnect()
        super().close()  # asyncio's close() empties the ready queue and the timer heap
        self._tick.stop()
        self._tick_at = None
        self._tick_due_now = False
