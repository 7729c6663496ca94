"""A bounded queue per model: a CPU model answers one or two chats at a time, so more
clients wait in line, and past ``max_waiting`` they are told ``rate_limited`` at once
instead of waiting minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from codette_desktop.errors import ProtocolError


@dataclass
class _Lane:
    running: asyncio.Semaphore
    waiting: int = 0
    active: int = 0


class LLMGate:
    """``async with gate.slot(model):`` around one generation.

    At most ``max_concurrent`` generations per model run at once and at most
    ``max_waiting`` more wait (first come, first served); one more raises
    ``ProtocolError("rate_limited")``. A waiter that is cancelled leaves the line.
    """

    def __init__(self, *, max_concurrent: int = 1, max_waiting: int = 4) -> None:
        if max_concurrent < 1 or max_waiting < 0:
            raise ValueError("max_concurrent must be >= 1 and max_waiting >= 0")
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._lanes: dict[str, _Lane] = {}

    def load(self, model: str) -> tuple[int, int]:
        """(generating, waiting) for ``model``."""
        lane = self._lanes.get(model)
        return (lane.active, lane.waiting) if lane else (0, 0)

    @asynccontextmanager
    async def slot(self, model: str) -> AsyncIterator[None]:
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = _Lane(asyncio.Semaphore(self.max_concurrent))
        if lane.running.locked() and lane.waiting >= self.max_waiting:
            raise ProtocolError(
                "rate_limited",
                f"the local model {model} is busy ({lane.active} answering, "
                f"{lane.waiting} waiting); try again in a moment")
        lane.waiting += 1
        try:
            await lane.running.acquire()
        finally:
            lane.waiting -= 1
        lane.active += 1
        try:
            yield
        finally:
            lane.active -= 1
            lane.running.release()
