"""The per-model queue: a bounded number generate, a bounded number wait, the rest are
refused with rate_limited at once."""

from __future__ import annotations

import asyncio

import pytest

from codette_desktop.errors import ProtocolError
from codette_desktop.llm import LLMGate


def test_one_generates_two_wait_in_order_and_the_fourth_is_refused() -> None:
    async def main() -> tuple[list[str], list[tuple[int, int]], ProtocolError]:
        gate = LLMGate(max_concurrent=1, max_waiting=2)
        release = asyncio.Event()
        order: list[str] = []

        async def chat(name: str) -> None:
            async with gate.slot("llama3"):
                order.append(name)
                await release.wait()

        tasks = [asyncio.create_task(chat(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0)
        loads = [gate.load("llama3")]
        with pytest.raises(ProtocolError) as refused:
            async with gate.slot("llama3"):
                pass
        release.set()
        await asyncio.gather(*tasks)
        loads.append(gate.load("llama3"))
        return order, loads, refused.value

    order, loads, refused = asyncio.run(main())
    assert order == ["a", "b", "c"]
    assert loads == [(1, 2), (0, 0)]
    assert refused.code == "rate_limited" and "llama3" in refused.message


def test_models_have_separate_lines_and_concurrency_is_honoured() -> None:
    async def main() -> tuple[int, tuple[int, int]]:
        gate = LLMGate(max_concurrent=2, max_waiting=0)
        running = 0
        peak = 0
        hold = asyncio.Event()

        async def chat(model: str) -> None:
            nonlocal running, peak
            async with gate.slot(model):
                running += 1
                peak = max(peak, running)
                await hold.wait()
                running -= 1

        tasks = [asyncio.create_task(chat(m)) for m in ("a", "a", "b", "b")]
        await asyncio.sleep(0)
        with pytest.raises(ProtocolError):
            async with gate.slot("a"):
                pass
        load_b = gate.load("b")
        hold.set()
        await asyncio.gather(*tasks)
        return peak, load_b

    assert asyncio.run(main()) == (4, (2, 0))


def test_a_cancelled_waiter_leaves_the_line() -> None:
    async def main() -> tuple[tuple[int, int], tuple[int, int]]:
        gate = LLMGate(max_concurrent=1, max_waiting=1)
        hold = asyncio.Event()

        async def chat() -> None:
            async with gate.slot("m"):
                await hold.wait()

        first = asyncio.create_task(chat())
        waiter = asyncio.create_task(chat())
        await asyncio.sleep(0)
        before = gate.load("m")
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        after_cancel = gate.load("m")
        # The freed place in line can be taken again.
        again = asyncio.create_task(chat())
        await asyncio.sleep(0)
        hold.set()
        await asyncio.gather(first, again)
        assert before == (1, 1)
        return after_cancel, gate.load("m")

    assert asyncio.run(main()) == ((1, 0), (0, 0))


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        LLMGate(max_concurrent=0)
    with pytest.raises(ValueError):
        LLMGate(max_waiting=-1)
