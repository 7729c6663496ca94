"""The order analysis jobs run in: round-robin over owners, large jobs bounded.

Pure bookkeeping (no asyncio, no processes), so the policy is tested on its own;
:class:`~codette_desktop.services.analysis_pool.AnalysisPool` feeds it and asks it.

- :class:`FairQueue` — jobs wait per owner (a client), first in first out within an
  owner; :meth:`FairQueue.pop` serves the owners in turn, so one client's backlog never
  delays another's next job by more than one job per worker. The caller may say that no
  more large jobs may start now (the last free worker is kept for small ones); the owner's
  first small job is taken instead.
- :class:`LargeJobQuota` — how many large jobs each owner has queued or running, so one
  client cannot park an unbounded number of 100 MiB frames in the server.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items queued per owner, served round-robin over owners.

    ``owner`` is any hashable key (the server passes the client's id; None is one owner
    like any other).
    """

    def __init__(self) -> None:
        # Insertion order is the turn order: an owner that is served moves to the back.
        self._queues: dict[Hashable, deque[tuple[T, bool]]] = {}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def push(self, item: T, *, owner: Hashable, large: bool) -> None:
        """Queue ``item`` behind the owner's earlier items."""
        self._queues.setdefault(owner, deque()).append((item, large))

    def pop(self, *, allow_large: bool = True) -> T | None:
        """The next item in turn, or None if nothing (allowed) is waiting.

        With ``allow_large=False`` an owner whose next item is large gives its first small
        one instead, and owners with only large items are skipped (keeping their turn).
        """
        for owner, queue in self._queues.items():
            for index, (item, large) in enumerate(queue):
                if allow_large or not large:
                    del queue[index]
                    del self._queues[owner]
                    if queue:
                        self._queues[owner] = queue  # to the back of the turn order
                    return item
        return None

    def discard(self, item: T) -> bool:
        """Remove a waiting ``item`` (its requester gave up); False if it is not queued."""
        for owner, queue in self._queues.items():
            for index, (queued, _) in enumerate(queue):
                if queued is item:
                    del queue[index]
                    if not queue:
                        del self._queues[owner]
                    return True
        return False

    def drain(self) -> list[T]:
        """Remove and return every waiting item (the workers are gone)."""
        items = [item for queue in self._queues.values() for item, _ in queue]
        self._queues.clear()
        return items


class LargeJobQuota:
    """At most ``per_owner`` large jobs queued or running per owner."""

    def __init__(self, per_owner: int) -> None:
        if per_owner < 1:
            raise ValueError(f"per_owner must be at least 1, got {per_owner}")
        self.per_owner = per_owner
        self._counts: Counter[Hashable] = Counter()

    def admit(self, owner: Hashable) -> bool:
        """Count one more large job for ``owner``; False (nothing counted) if at the bound."""
        if self._counts[owner] >= self.per_owner:
            return False
        self._counts[owner] += 1
        return True

    def release(self, owner: Hashable) -> None:
        """One of ``owner``'s large jobs finished or was withdrawn."""
        self._counts[owner] -= 1
        if self._counts[owner] <= 0:
            del self._counts[owner]

    def held(self, owner: Hashable) -> int:
        return self._counts[owner]
