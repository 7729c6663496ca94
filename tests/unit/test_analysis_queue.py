"""The analysis job order: round-robin over owners, small jobs past blocked large ones,
and a bound on large jobs per owner. Pure: no processes, no event loop."""

from __future__ import annotations

import pytest

from codette_desktop.services.analysis_queue import FairQueue, LargeJobQuota


def drain(queue: FairQueue[str], *, allow_large: bool = True) -> list[str]:
    order = []
    while (item := queue.pop(allow_large=allow_large)) is not None:
        order.append(item)
    return order


def test_owners_are_served_in_turn_and_each_in_order() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(9):
        queue.push(f"attacker-{i}", owner="attacker", large=True)
    queue.push("victim-0", owner="victim", large=False)
    queue.push("victim-1", owner="victim", large=False)
    queue.push("third-0", owner=None, large=False)
    assert len(queue) == 12
    assert drain(queue) == [
        "attacker-0", "victim-0", "third-0", "attacker-1", "victim-1",
        *(f"attacker-{i}" for i in range(2, 9)),
    ]
    assert len(queue) == 0


def test_a_newcomer_waits_for_at_most_one_job_per_owner_ahead() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(5):
        queue.push(f"a{i}", owner="a", large=False)
        queue.push(f"b{i}", owner="b", large=False)
    assert queue.pop() == "a0"
    queue.push("c0", owner="c", large=False)
    # c joins the round at its end: one job of each other owner is ahead of it, however
    # many they have queued.
    assert [queue.pop(), queue.pop(), queue.pop(), queue.pop()] == ["b0", "a1", "c0", "b1"]


def test_small_jobs_pass_large_ones_when_no_large_job_may_start() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("big-1", owner="a", large=True)
    queue.push("small-1", owner="a", large=False)
    queue.push("big-2", owner="b", large=True)
    queue.push("small-2", owner="c", large=False)
    assert drain(queue, allow_large=False) == ["small-1", "small-2"]
    # a used its turn on small-1, so b's large job comes first.
    assert drain(queue) == ["big-2", "big-1"]


def test_only_large_jobs_waiting_gives_nothing_when_large_may_not_start() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("big", owner="a", large=True)
    assert queue.pop(allow_large=False) is None
    assert queue.pop() == "big"


def test_discard_removes_a_waiting_item_once() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("x", owner="a", large=False)
    queue.push("y", owner="a", large=False)
    assert queue.discard("x") is True
    assert queue.discard("x") is False
    assert drain(queue) == ["y"]
    assert queue.discard("y") is False


def test_drain_empties_every_owner() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("x", owner="a", large=True)
    queue.push("y", owner="b", large=False)
    assert sorted(queue.drain()) == ["x", "y"]
    assert queue.pop() is None


def test_large_job_quota_bounds_each_owner_separately() -> None:
    quota = LargeJobQuota(2)
    assert [quota.admit("a") for _ in range(3)] == [True, True, False]
    assert quota.admit("b") is True
    assert quota.held("a") == 2
    quota.release("a")
    assert quota.admit("a") is True
    assert quota.admit("a") is False
    quota.release("a")
    quota.release("a")
    assert quota.held("a") == 0


def test_large_job_quota_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LargeJobQuota(0)
