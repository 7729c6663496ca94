"""Local-model benchmark (phase 1): prompt size vs time to first token, generation speed,
and the cost of Codette's streaming client against a bare read of the same stream.

    .venv/bin/python bench/llm_bench.py [--runs 3] [--url http://127.0.0.1:11434/v1 --model M]

Without ``--url`` it starts llama.cpp's server with SmolLM2-135M (scripts/setup-llm-server.sh
builds it); with ``--url`` it measures any OpenAI-compatible server, e.g. a 7B model in
Ollama, to choose ``llm_timeout_s`` on real hardware. Measured in one run:
  * time to first token (TTFT) for the prompt builder's typical prompts (a first question,
    and a follow-up with DAW context and one earlier exchange) and, as the baseline from the
    same run, for filler prompts of the issue's sizes (436, 1,253 and 2,177 tokens; the
    issue measured 2.3 s, 7.0 s and 20 s). Every prompt starts with a run number, so the
    server cannot reuse the previous prompt's cache: this is the cold cost;
  * generation speed (tokens/s after the first token) from the client's own measurement;
  * delivery overhead: the same cached request streamed through ``LLMClient`` and through a
    bare ``httpx`` loop over the raw SSE lines, alternating; ratios of wall time (fastest
    run of each) and of the consuming process's CPU time per delta (median). The
    chat_chunk-over-WebSocket leg and loop lateness while three clients generate come with
    the chat service (phase 2).
Machines are noisy: compare the ratios, not the absolute times, across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from codette_desktop.engine.prompt import build_messages  # noqa: E402
from codette_desktop.llm import LLMClient  # noqa: E402

from groundings import vocal_compression  # noqa: E402
from llm_server import NOT_BUILT, running_llm_server, server_paths  # noqa: E402

# The issue's measurements with this model on 2 cores: prompt tokens -> TTFT seconds.
ISSUE_TTFT = ((436, 2.3), (1253, 7.0), (2177, 20.0))
FILLER = "Check the low end on headphones and on small speakers before you commit. "
Messages = list[dict[str, str]]


async def prompt_tokens(http: httpx.AsyncClient, url: str, model: str,
                        messages: Messages) -> int:
    """The server's own count (usage.prompt_tokens); cheap right after the same prompt."""
    reply = await http.post(f"{url}/chat/completions", timeout=300, json={
        "model": model, "messages": messages, "max_tokens": 1})
    reply.raise_for_status()
    return int(reply.json()["usage"]["prompt_tokens"])


def numbered(messages: Messages, run: int) -> Messages:
    """A distinct first line per run defeats the server's prefix cache."""
    first = dict(messages[0], content=f"Run {run}.\n{messages[0]['content']}")
    return [first, *messages[1:]]


async def filler_prompt(http: httpx.AsyncClient, url: str, model: str,
                        target: int) -> Messages:
    """A system + user prompt of about ``target`` tokens (counted by the server)."""
    def prompt(sentences: int) -> Messages:
        return [{"role": "system", "content": "You are a mixing assistant."},
                {"role": "user", "content": FILLER * sentences + "Summarise this in one line."}]

    ten = await prompt_tokens(http, url, model, prompt(10))
    thirty = await prompt_tokens(http, url, model, prompt(30))
    per_sentence = (thirty - ten) / 20
    return prompt(max(1, 10 + round((target - ten) / per_sentence)))


async def time_to_first_token(client: LLMClient, model: str, messages: Messages,
                              max_tokens: int) -> tuple[float, float | None]:
    async with client.stream_chat(messages, model=model, max_tokens=max_tokens,
                                  temperature=0.0) as stream:
        async for _ in stream:
            pass
    assert stream.stats.first_token_s is not None
    return stream.stats.first_token_s, stream.stats.tokens_per_s


async def bare_stream(http: httpx.AsyncClient, url: str, body: dict[str, object]) -> int:
    """The baseline reader: raw SSE lines, json.loads, pick the content; nothing else."""
    deltas = 0
    async with http.stream("POST", f"{url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    deltas += 1
    return deltas


async def client_stream(client: LLMClient, messages: Messages, model: str,
                        max_tokens: int) -> int:
    deltas = 0
    async with client.stream_chat(messages, model=model, max_tokens=max_tokens,
                                  temperature=0.0) as stream:
        async for _ in stream:
            deltas += 1
    return deltas


async def measure(url: str, model: str | None, runs: int, max_tokens: int) -> None:
    async with LLMClient(url, timeout_s=600) as client, httpx.AsyncClient(timeout=600) as http:
        model = model or await client.pick_model()
        print(f"model {model} at {url}")
        prompts: list[tuple[str, Messages]] = [
            ("builder: first question", build_messages(vocal_compression(with_session=False))),
            ("builder: follow-up + DAW", build_messages(vocal_compression())),
        ]
        for tokens, _ in ISSUE_TTFT:
            prompts.append((f"filler ~{tokens}", await filler_prompt(http, url, model, tokens)))

        print(f"\n{'prompt':28} {'tokens':>6} {'TTFT s':>7} {'ms/token':>8} {'gen tok/s':>9}"
              f" {'issue':>13}")
        run = 0
        rows = []
        for name, messages in prompts:
            ttfts, speeds, counts = [], [], []
            for _ in range(runs):
                run += 1
                timed = numbered(messages, run)
                ttft, speed = await time_to_first_token(client, model, timed, max_tokens)
                ttfts.append(ttft)
                speeds.extend([speed] if speed else [])
                counts.append(await prompt_tokens(http, url, model, timed))
            tokens, ttft = round(statistics.median(counts)), statistics.median(ttfts)
            issue = next((f"{n} -> {s:g} s" for n, s in ISSUE_TTFT
                          if name == f"filler ~{n}"), "")
            speed_text = f"{statistics.median(speeds):9.1f}" if speeds else f"{'-':>9}"
            print(f"{name:28} {tokens:6d} {ttft:7.2f} {1000 * ttft / tokens:8.2f}"
                  f" {speed_text} {issue:>13}")
            rows.append((name, tokens, ttft))
        base = next(r for r in rows if r[0] == f"filler ~{ISSUE_TTFT[1][0]}")
        for name, tokens, ttft in rows[:2]:
            print(f"{name}: {tokens} tokens, TTFT {ttft:.2f} s = {ttft / base[2]:.2f}x the "
                  f"{base[1]}-token prompt's in this run")

        # Delivery overhead: identical cached request, alternating readers.
        messages = build_messages(vocal_compression())
        body = {"model": model, "messages": messages, "max_tokens": max_tokens,
                "temperature": 0.0, "stream": True}
        await bare_stream(http, url, body)  # warm the prompt cache for both
        wall: dict[str, list[float]] = {"client": [], "bare": []}
        cpu: dict[str, list[float]] = {"client": [], "bare": []}
        for _ in range(runs * 4):
            for kind in ("bare", "client"):
                started, cpu_started = time.perf_counter(), time.process_time()
                deltas = await (client_stream(client, messages, model, max_tokens)
                                if kind == "client" else bare_stream(http, url, body))
                wall[kind].append(time.perf_counter() - started)
                cpu[kind].append((time.process_time() - cpu_started) / max(deltas, 1))
        # The fastest run of each is the one least disturbed by other load on the machine.
        w_client, w_bare = min(wall["client"]), min(wall["bare"])
        c_client, c_bare = statistics.median(cpu["client"]), statistics.median(cpu["bare"])
        print(f"\ndelivery ({max_tokens} tokens, cached prompt, {runs * 4} runs each):")
        print(f"  wall (fastest run)  client {w_client:.3f} s  bare {w_bare:.3f} s"
              f"  ratio {w_client / w_bare:.3f}")
        print(f"  CPU (median)        client {1e6 * c_client:.0f} us/delta"
              f"  bare {1e6 * c_bare:.0f} us/delta  ratio {c_client / c_bare:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an OpenAI-compatible base URL (default: start one)")
    parser.add_argument("--model", help="model name (default: the server's first)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        url = args.url
        if url is None:
            paths = server_paths()
            if paths is None:
                print(NOT_BUILT, file=sys.stderr)
                return 1
            # Room for the issue's 2,177-token prompt plus the answer.
            server = stack.enter_context(running_llm_server(paths, n_ctx=4096))
            print(f"llama.cpp server ready in {server.started_s:.1f} s")
            url = server.base_url
        asyncio.run(measure(url.rstrip("/"), args.model, args.runs, args.max_tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
