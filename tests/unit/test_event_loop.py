"""FastQEventLoop keeps asyncio's semantics on Qt's event loop (headless QCoreApplication).

Every wait is bounded: ``run`` stops the loop from a Qt timer after ``WAIT_S`` (a deadline
outside asyncio's queues, so it cannot wake the loop under test), and a loop that hangs
outright is caught by the per-test timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QTimer, Signal
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from codette_desktop.qt.event_loop import FastQEventLoop
from codette_desktop.server.uvicorn_host import EmbeddedServer, bind_socket, make_config

# "thread": a loop that hangs idle inside Qt never returns to Python for a SIGALRM.
pytestmark = pytest.mark.timeout(60, method="thread")

WAIT_S = 10.0  # upper bound for anything a test waits on


@pytest.fixture(scope="module")
def qt_app() -> Iterator[QCoreApplication]:
    app = QCoreApplication.instance()
    created = app is None
    if app is None:
        app = QCoreApplication([])
    yield app
    if created:
        # Lets pytest-qt create its QApplication later in the same session.
        app.shutdown()


@pytest.fixture
def loop(qt_app: QCoreApplication) -> Iterator[FastQEventLoop]:
    loop = FastQEventLoop(qt_app)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        if not loop.is_closed():
            loop.close()
        asyncio.set_event_loop(None)


def run(loop: FastQEventLoop, awaitable: Awaitable[Any], timeout: float = WAIT_S) -> Any:
    """run_until_complete; raises RuntimeError if it is not done within ``timeout``."""
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.stop)
    deadline.start(int(timeout * 1000))
    try:
        return loop.run_until_complete(awaitable)
    finally:
        deadline.stop()


def timers_of(qobject: QObject) -> list[Any]:
    dispatcher = QCoreApplication.eventDispatcher()
    assert dispatcher is not None
    return dispatcher.registeredTimers(qobject)


def test_call_soon_runs_callbacks_in_fifo_order(loop: FastQEventLoop) -> None:
    order: list[int] = []
    done = loop.create_future()

    def record(i: int) -> None:
        order.append(i)
        if i < 1000:  # scheduled by a running batch: after everything queued before it
            loop.call_soon(record, i + 1000)
        if len(order) == 2000:
            done.set_result(None)

    for i in range(1000):
        loop.call_soon(record, i)
    run(loop, done)
    assert order == list(range(2000))


def test_due_timers_queue_behind_ready_callbacks(loop: FastQEventLoop) -> None:
    # asyncio's order: what is ready first, then the timers that fell due, by deadline.
    order: list[str] = []
    start = loop.time()
    loop.call_at(start - 0.001, order.append, "timer due second")
    loop.call_soon(order.append, "soon 1")
    loop.call_at(start - 0.002, order.append, "timer due first")
    loop.call_soon(order.append, "soon 2")
    loop.run_until_complete(asyncio.sleep(0))
    assert order == ["soon 1", "soon 2", "timer due first", "timer due second"]


def test_call_soon_threadsafe_wakes_an_idle_loop(loop: FastQEventLoop) -> None:
    result: asyncio.Future[int] = loop.create_future()
    handles: list[asyncio.Handle] = []
    idle = threading.Event()

    def from_thread() -> None:
        if idle.wait(WAIT_S):
            handles.append(loop.call_soon_threadsafe(result.set_result, 42))

    thread = threading.Thread(target=from_thread)
    thread.start()
    # Set from a Qt slot, when nothing is ready or due on the asyncio side: from then on
    # only the thread's call can wake the loop.
    QTimer.singleShot(20, idle.set)
    try:
        assert run(loop, result) == 42
    finally:
        idle.set()
        thread.join(WAIT_S)
    assert isinstance(handles[0], asyncio.Handle)  # cancellable, as in asyncio


def test_call_soon_threadsafe_from_many_threads_keeps_each_threads_order(
    loop: FastQEventLoop,
) -> None:
    per_thread, threads = 500, 4
    seen: dict[int, list[int]] = {t: [] for t in range(threads)}
    done = loop.create_future()

    def record(thread: int, i: int) -> None:
        seen[thread].append(i)
        if sum(map(len, seen.values())) == per_thread * threads:
            done.set_result(None)

    def send(thread: int) -> None:
        for i in range(per_thread):
            loop.call_soon_threadsafe(record, thread, i)

    workers = [threading.Thread(target=send, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    run(loop, done)
    for worker in workers:
        worker.join(WAIT_S)
    assert all(seen[t] == list(range(per_thread)) for t in range(threads))


def test_to_thread_results_come_back(loop: FastQEventLoop) -> None:
    # qasync's thread executor hands results back through call_soon_threadsafe.
    async def offload() -> list[int]:
        return list(await asyncio.gather(*(asyncio.to_thread(sum, range(n)) for n in range(8))))

    assert run(loop, offload()) == [sum(range(n)) for n in range(8)]


def test_timers_fire_in_deadline_order_and_never_early(loop: FastQEventLoop) -> None:
    fired: list[tuple[float, float]] = []  # (deadline, loop.time() when it ran)
    done = loop.create_future()
    delays = [0.05, 0.01, 0.03, 0.0, 0.02, 0.04, 0.015, 0.001]

    def fire(deadline: float) -> None:
        fired.append((deadline, loop.time()))
        if len(fired) == len(delays) + 1:
            done.set_result(None)

    start = loop.time()
    for delay in delays:
        loop.call_later(delay, fire, start + delay)
    loop.call_at(start + 0.025, fire, start + 0.025)
    run(loop, done)
    deadlines = [deadline for deadline, _ in fired]
    assert deadlines == sorted(deadlines)
    # loop.time() is time.monotonic(); "due" allows its resolution, as asyncio does.
    resolution = loop._clock_resolution
    assert all(ran >= deadline - resolution for deadline, ran in fired), fired


def test_cancelled_handles_do_not_run(loop: FastQEventLoop) -> None:
    ran: list[str] = []
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    loop.call_soon(ran.append, "soon-cancelled").cancel()
    loop.call_later(0.005, ran.append, "later-cancelled").cancel()
    loop.call_soon(ran.append, "soon")
    loop.call_later(0.01, ran.append, "later")
    run(loop, asyncio.sleep(0.03))
    assert ran == ["soon", "later"]
    assert errors == []


def test_many_cancelled_timers_are_dropped_from_the_heap(loop: FastQEventLoop) -> None:
    # The earliest 50 stay, so the cancelled ones are not at the head of the heap either.
    timers = [loop.call_later(3600 + i, lambda: None) for i in range(300)]
    for timer in timers[50:]:
        timer.cancel()
    loop.run_until_complete(asyncio.sleep(0))  # one batch cleans up
    assert len(loop._scheduled) == 50
    for timer in timers[:50]:
        timer.cancel()


def test_callback_exceptions_go_to_the_exception_handler(loop: FastQEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    after: list[str] = []

    def fail(message: str) -> None:
        raise ValueError(message)

    loop.call_soon(fail, "soon")
    loop.call_soon(after.append, "next callback still runs")
    loop.call_later(0.005, fail, "later")
    run(loop, asyncio.sleep(0.02))
    assert [str(c["exception"]) for c in contexts] == ["soon", "later"]
    assert all(isinstance(c["exception"], ValueError) for c in contexts)
    assert after == ["next callback still runs"]


def test_slow_callbacks_are_reported_in_debug_mode(
    loop: FastQEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    stall = threading.Event()
    loop.call_soon(stall.wait, 0.03)  # blocks the loop on purpose
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        run(loop, asyncio.sleep(0))
    assert any("took" in r.getMessage() and "wait" in r.getMessage() for r in caplog.records)


class Pinger(QObject):
    pinged = Signal(int)


def test_qt_signals_timers_and_asyncio_tasks_interleave(loop: FastQEventLoop) -> None:
    # A round trip per step: task -> Qt signal -> slot -> Qt timer -> asyncio future -> task.
    events: list[str] = []
    pinger = Pinger()
    answer: asyncio.Future[int] | None = None

    def on_pinged(i: int) -> None:
        events.append(f"qt slot {i}")

        def on_timer() -> None:
            events.append(f"qt timer {i}")
            assert answer is not None
            answer.set_result(i)

        QTimer.singleShot(1, on_timer)

    pinger.pinged.connect(on_pinged)

    async def task() -> list[int]:
        nonlocal answer
        answers = []
        for i in range(10):
            answer = loop.create_future()
            events.append(f"task {i}")
            pinger.pinged.emit(i)
            answers.append(await answer)
        return answers

    assert run(loop, task()) == list(range(10))
    assert events == [f"{who} {i}" for i in range(10) for who in ("task", "qt slot", "qt timer")]


def test_a_self_rescheduling_callback_does_not_starve_qt(loop: FastQEventLoop) -> None:
    spins = 0
    qt_ticks: list[int] = []  # spins seen at each Qt timer tick
    done = loop.create_future()

    def spin() -> None:
        nonlocal spins
        spins += 1
        if not done.done():
            loop.call_soon(spin)

    def on_timeout() -> None:
        if done.done():  # the loop stops a batch or two later
            return
        qt_ticks.append(spins)
        if len(qt_ticks) == 5:
            done.set_result(None)

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(on_timeout)
    timer.start()
    loop.call_soon(spin)
    try:
        run(loop, done)
    finally:
        timer.stop()
    # The Qt timer kept firing, and the callback kept running between its ticks.
    assert len(qt_ticks) == 5
    assert all(later > earlier for earlier, later in itertools.pairwise(qt_ticks)), qt_ticks


def test_what_a_batch_makes_ready_runs_in_the_same_qt_pass(loop: FastQEventLoop) -> None:
    """A request is a chain of callbacks (read, task step, reply): each link used to wait
    for a pass through Qt's event loop. A repeating 0 ms Qt timer counts the passes."""
    qt_passes = 0

    def count_pass() -> None:
        nonlocal qt_passes
        qt_passes += 1

    async def chain(links: int) -> int:
        start = qt_passes
        for _ in range(links):
            await asyncio.sleep(0)  # one more ready callback, made by the one running
        return qt_passes - start

    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(count_pass)
    timer.start()
    try:
        run(loop, chain(10))  # warm up
        passes = run(loop, chain(500))
    finally:
        timer.stop()
    assert qt_passes > 0  # the counter does count Qt's passes
    # 500 links of ~10 µs: a handful of 1 ms rounds, not 500 Qt passes.
    assert passes < 100, passes


def test_a_self_rescheduling_callback_does_not_starve_io_or_timers(
    loop: FastQEventLoop,
) -> None:
    spinning = True

    def spin() -> None:
        if spinning:
            loop.call_soon(spin)

    async def io_and_timer() -> bytes:
        near, far = socket.socketpair()
        with near, far:
            near.setblocking(False)
            far.setblocking(False)
            loop.call_soon(spin)
            await asyncio.sleep(0.005)
            far.send(b"x")
            return await loop.sock_recv(near, 1)  # a Qt socket notifier must fire

    try:
        assert run(loop, io_and_timer()) == b"x"
    finally:
        spinning = False


def test_a_nested_qt_event_loop_in_a_callback_defers_other_callbacks(
    loop: FastQEventLoop,
) -> None:
    order: list[str] = []

    def modal() -> None:  # like QDialog.exec() inside a callback
        order.append("modal start")
        nested = QEventLoop()
        QTimer.singleShot(20, nested.quit)
        loop.call_soon(order.append, "scheduled during modal")
        nested.exec()
        order.append("modal end")

    loop.call_soon(modal)
    loop.call_soon(order.append, "queued after modal")
    run(loop, asyncio.sleep(0.05))
    assert order == ["modal start", "modal end", "queued after modal", "scheduled during modal"]


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
def test_signal_handlers_run(loop: FastQEventLoop) -> None:
    async def deliver() -> str:
        received: asyncio.Future[str] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, received.set_result, "SIGUSR1")
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            return await received
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert run(loop, deliver()) == "SIGUSR1"


async def pong(ws: ServerConnection) -> None:
    async for frame in ws:
        message = json.loads(frame)
        await ws.send(json.dumps({"type": "pong", "id": message["id"]}))


def test_websockets_client_and_server_exchange_messages(loop: FastQEventLoop) -> None:
    async def exchange() -> list[Any]:
        async with serve(pong, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                replies = []
                for i in range(100):
                    await ws.send(json.dumps({"type": "ping", "id": i}))
                    replies.append(json.loads(await ws.recv()))
                return replies

    replies = run(loop, exchange())
    assert replies == [{"type": "pong", "id": i} for i in range(100)]


async def asgi_pong(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """HTTP: 200 "ok"; WebSocket: JSON ping -> pong, as the app's transport carries them."""
    if scope["type"] == "http":
        await receive()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        ping = json.loads(message["text"])
        await send(
            {"type": "websocket.send", "text": json.dumps({"type": "pong", "id": ping["id"]})}
        )


def test_the_apps_uvicorn_host_serves_http_and_websocket(loop: FastQEventLoop) -> None:
    config = make_config(
        asgi_pong,
        max_frame_bytes=1 << 20,
        head_timeout_s=10.0,
        max_connections=16,
        server_header="test",
    )
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = EmbeddedServer(config, sock)

    async def exchange() -> tuple[bytes, list[Any]]:
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(2)
            writer.close()
            assert head.startswith(b"HTTP/1.1 200"), head
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                replies = []
                for i in range(50):
                    await ws.send(json.dumps({"type": "ping", "id": i}))
                    replies.append(json.loads(await ws.recv()))
            return body, replies
        finally:
            await server.stop()

    body, replies = run(loop, exchange())
    assert body == b"ok"
    assert replies == [{"type": "pong", "id": i} for i in range(50)]


@pytest.mark.slow
def test_asyncio_sleep_is_never_early_and_rarely_late(loop: FastQEventLoop) -> None:
    async def sleeps() -> list[float]:
        lateness = []
        for delay in (0.003, 0.01, 0.02) * 5:
            start = loop.time()
            await asyncio.sleep(delay)
            lateness.append(loop.time() - start - delay)
        return lateness

    lateness = sorted(run(loop, sleeps()))
    assert lateness[0] >= -loop._clock_resolution, lateness
    # Generous for a shared machine; a coarse or truncated Qt timer shows as early fires.
    assert lateness[len(lateness) // 2] < 0.01, lateness


def test_an_idle_loop_has_no_qt_timer(loop: FastQEventLoop) -> None:
    async def timers_while_idle() -> int:
        counted: asyncio.Future[int] = loop.create_future()
        # A Qt slot, outside any asyncio batch: the loop is waiting.
        QTimer.singleShot(20, lambda: counted.set_result(len(timers_of(loop._tick))))
        return await counted

    later = loop.call_later(3600, lambda: None)
    assert run(loop, timers_while_idle()) == 1  # armed for the deadline an hour away
    later.cancel()
    assert run(loop, timers_while_idle()) == 0  # nothing due: no timer at all


def test_stop_finishes_the_batch_and_the_next_run_picks_up_the_rest(
    loop: FastQEventLoop,
) -> None:
    ran: list[str] = []
    loop.call_soon(loop.stop)
    loop.call_soon(ran.append, "same batch as stop")
    loop.call_soon(lambda: loop.call_soon(ran.append, "next batch"))
    loop.run_forever()
    assert ran == ["same batch as stop"]
    QCoreApplication.processEvents()  # as qasync's run_until_complete does after a run
    assert ran == ["same batch as stop"]  # nothing runs while the loop does not
    QTimer.singleShot(20, loop.stop)  # schedules nothing on the asyncio side
    loop.run_forever()
    assert ran == ["same batch as stop", "next batch"]


def test_close_leaves_no_pending_qt_timers(loop: FastQEventLoop) -> None:
    loop.call_later(3600, lambda: None)
    loop.call_soon(loop.stop)
    loop.call_soon(loop.call_soon, lambda: None)  # ready again when the loop stops
    loop.run_forever()
    assert timers_of(loop._tick)  # something is still due: the tick is armed
    loop.close()
    assert timers_of(loop._tick) == []
    assert timers_of(loop._timer) == []  # qasync's per-callback timers were never used
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(lambda: None)


def test_an_abandoned_async_generator_is_closed_on_the_loop(loop: FastQEventLoop) -> None:
    """Its finally may await (httpx's streams do): the loop's finalizer hook runs aclose()
    as a task, as asyncio's own loop does, instead of the garbage collector running it
    where it cannot await."""
    closed = loop.create_future()

    async def ticks() -> Any:
        try:
            while True:
                yield 1
        finally:
            await asyncio.sleep(0)
            closed.set_result(True)

    async def main() -> bool:
        gen = ticks()
        assert await anext(gen) == 1
        del gen  # dropped mid-iteration: CPython finalizes it now
        return await closed

    assert run(loop, main()) is True


def test_many_idle_sockets_cost_qt_one_notifier(loop: FastQEventLoop) -> None:
    """500 idle connections: Qt watches the selector, not 500 notifiers, and the one
    socket that receives data is still served at once."""

    pairs = [socket.socketpair() for _ in range(500)]
    received: list[bytes] = []
    got_data = asyncio.Event()
    try:
        def reader(sock: socket.socket) -> None:
            received.append(sock.recv(64))
            got_data.set()

        async def scenario() -> None:
            for ours, _theirs in pairs:
                ours.setblocking(False)
                loop.add_reader(ours.fileno(), reader, ours)
            pairs[321][1].send(b"hello")
            await got_data.wait()

        run(loop, scenario())
        assert received == [b"hello"]
        notifiers = [n for n in qt_notifiers() if n.isEnabled()]
        assert len(notifiers) <= 2, f"{len(notifiers)} socket notifiers for 500 sockets"
        assert len(loop._selector.get_map()) >= 500
        assert not loop._read_notifiers  # qasync's per-descriptor notifiers are unused
        for ours, _theirs in pairs:
            assert loop.remove_reader(ours.fileno())
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def qt_notifiers() -> list[Any]:
    """Every live QSocketNotifier (they have no parent here): found through gc."""
    import gc

    from PySide6.QtCore import QSocketNotifier

    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, QSocketNotifier):
                found.append(obj)
        except ReferenceError:  # a dead weak proxy among the objects: not a notifier
            continue
    return found


def test_socket_batches_leave_the_armed_tick_and_the_notifier_alone(
    loop: FastQEventLoop,
) -> None:
    """A read that leaves the earliest deadline where it was costs no Qt timer restart and
    no notifier toggling: both were binding calls on every request's path."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    wanted = 50
    got = 0
    all_read: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        nonlocal got
        got += len(reader.recv(4096))
        if got >= wanted and not all_read.done():
            all_read.set_result(None)

    # One byte per Qt timer tick, from a Qt slot outside any asyncio batch: each is a
    # separate readiness of the socket, handled by a batch of its own.
    sender = QTimer()
    sender.setInterval(2)
    sent = 0

    def send_one() -> None:
        nonlocal sent
        sent += 1
        writer.send(b"x")
        if sent == wanted:
            sender.stop()

    sender.timeout.connect(send_one)
    loop.add_reader(reader.fileno(), on_readable)
    loop.call_later(3600, lambda: None)  # the earliest deadline throughout

    async def spy_then_wait() -> None:
        tick_starts: list[int] = []
        toggles: list[bool] = []
        real_start, real_set_enabled = loop._tick.start, loop._io_notifier.setEnabled
        loop._tick.start = lambda ms: (tick_starts.append(ms), real_start(ms))[1]
        loop._io_notifier.setEnabled = lambda on: (toggles.append(on), real_set_enabled(on))[1]
        try:
            sender.start()
            await all_read
        finally:
            del loop._tick.start, loop._io_notifier.setEnabled
        # Armed for the hour-away deadline once (after the 0 ms tick that started this
        # task), then left alone: a restart per batch was a start per read.
        assert len([ms for ms in tick_starts if ms]) <= 1, tick_starts
        assert toggles == []

    try:
        run(loop, spy_then_wait())
    finally:
        sender.stop()
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
    assert got == wanted
