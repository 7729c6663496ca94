"""Local-model benchmark: prompt size vs time to first token, generation speed, the cost
of Codette's streaming client against a bare read of the same stream, and chat through the
app (chat_chunk delivery, loop lateness while clients generate, the fallback).

    .venv/bin/python bench/llm_bench.py [--runs 3] [--url http://127.0.0.1:11434/v1 --model M]
                                        [--legs prompt,client,app,lateness,fallback]
                                        [--threads 2]

Without ``--url`` it starts llama.cpp's server with SmolLM2-135M (scripts/setup-llm-server.sh
builds it) with ``--threads`` threads; with ``--url`` it measures any OpenAI-compatible
server on this machine, e.g. a 7B model in Ollama, to choose ``llm_timeout_s`` on real
hardware. Measured in one run:
  * ``prompt``: time to first token (TTFT) for the prompt builder's typical prompts (a first
    question, and a follow-up with DAW context and one earlier exchange) and, as the
    baseline from the same run, for filler prompts of the issue's sizes (436, 1,253 and
    2,177 tokens; the issue measured 2.3 s, 7.0 s and 20 s). Every prompt starts with a run
    number, so the server cannot reuse the previous prompt's cache: this is the cold cost;
    generation speed (tokens/s after the first token) from the client's own measurement;
  * ``client``: the same cached request streamed through ``LLMClient`` and through a bare
    ``httpx`` loop over the raw SSE lines, alternating; ratios of wall time (fastest run of
    each) and of the consuming process's CPU time per delta (median);
  * ``app``: the app (``main.py --headless``) answers a streamed chat through the model,
    and the exact request it sent is replayed straight to the model server by the bare SSE
    reader, alternating, each through a loopback proxy of its own (the same hop). TTFT and
    tokens/s of each and their ratios, and the app's delivery latency per chat_chunk: from
    the proxy passing a delta to the app to the chat_chunk holding it reaching the
    WebSocket client (the model's sampling temperature differs run to run, so answers
    differ in length: compare per token, not per answer);
  * ``lateness``: the event loop's lateness seen as the round trip of a ``ping`` sent
    every 20 ms by another WebSocket client (answered inline on the loop), p50/p99 while
    idle and while three clients chat at once (the app runs one generation per model, the
    other two wait in its queue: three streams open, one producing);
  * ``fallback``: chats with ``llm_url`` where nothing listens, against the built-in engine
    alone in the same run; a server that accepts and never answers, against its timeout.
Machines are noisy: compare the ratios, not the absolute times, across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from codette_desktop.engine.prompt import build_messages  # noqa: E402
from codette_desktop.llm import LLMClient  # noqa: E402

from app_process import AppProcess, running_app  # noqa: E402
from groundings import QUESTIONS, vocal_compression  # noqa: E402
from llm_server import (  # noqa: E402
    NOT_BUILT,
    ProxiedConnection,
    free_port,
    recording_proxy,
    running_llm_server,
    server_paths,
)

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


async def measure(url: str, model: str | None, args: argparse.Namespace) -> None:
    runs, max_tokens, legs = args.runs, args.max_tokens, args.legs
    async with LLMClient(url, timeout_s=600) as client, httpx.AsyncClient(timeout=600) as http:
        model = model or await client.pick_model()
        print(f"model {model} at {url}")
        if "prompt" in legs:
            await prompt_leg(client, http, url, model, runs, max_tokens)
        if "client" in legs:
            await client_leg(client, http, url, model, runs, max_tokens)
    if legs & {"app", "lateness"}:
        with recording_proxy(_port(url)) as to_app, recording_proxy(_port(url)) as direct:
            env = {"CODETTE_LLM_URL": _via(url, to_app.port), "CODETTE_LLM_TIMEOUT_S": "600"}
            if args.model:
                env["CODETTE_LLM_MODEL"] = args.model
            with running_app(Path(tempfile.mkdtemp(prefix="llm-bench-")), env=env) as app:
                if "app" in legs:
                    await app_leg(app, to_app.connections, _via(url, direct.port), runs)
                if "lateness" in legs:
                    await lateness_leg(app)
    if "fallback" in legs:
        await fallback_leg(runs)


async def prompt_leg(client: LLMClient, http: httpx.AsyncClient, url: str, model: str,
                     runs: int, max_tokens: int) -> None:
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


async def client_leg(client: LLMClient, http: httpx.AsyncClient, url: str, model: str,
                     runs: int, max_tokens: int) -> None:
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


# -- through the app --------------------------------------------------------------------------


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by a loopback proxy's."""
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{port}", parts.path, "", ""))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


_EVENT = re.compile(rb"data: (\{.*?\})\r?\n")


def forwarded_deltas(connections: Sequence[ProxiedConnection],
                     since: float) -> list[tuple[float, str]]:
    """Each text delta the proxy passed to the app after ``since``, with the time it did."""
    out = []
    for conn in connections:
        parts = [(at, data) for at, data in list(conn.answered) if at >= since]
        if not parts:
            continue
        data = b"".join(chunk for _, chunk in parts)
        ends, total = [], 0
        for _, chunk in parts:
            total += len(chunk)
            ends.append(total)
        for match in _EVENT.finditer(data):
            choices = json.loads(match.group(1)).get("choices") or [{}]
            delta = (choices[0].get("delta") or {}).get("content")
            if delta:
                # Passed on when the read holding the event's last byte was.
                read = bisect.bisect_left(ends, match.end())
                out.append((parts[min(read, len(parts) - 1)][0], delta))
    return sorted(out)


async def ws_chat(ws: ClientConnection, message: str) -> tuple[float, list[tuple[float, str]],
                                                               dict[str, Any]]:
    """(send time, chunks with arrival times, chat_response) of one streamed chat."""
    request_id = uuid.uuid4().hex[:8]
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await ws.send(json.dumps({"type": "chat", "id": request_id, "message": message,
                              "stream": True, "session_id": f"bench-{request_id}"}))
    chunks = []
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") != request_id:
            continue
        if reply["type"] != "chat_chunk":
            return sent, chunks, reply
        chunks.append((loop.time(), reply["delta"]))


async def bare_timed(http: httpx.AsyncClient, url: str,
                     body: dict[str, Any]) -> tuple[float, list[float]]:
    """The bare SSE reader, timing each delta: (send time, arrival times)."""
    loop = asyncio.get_running_loop()
    sent = loop.time()
    arrivals = []
    async with http.stream("POST", f"{url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    arrivals.append(loop.time())
    return sent, arrivals


def tokens_per_s(times: Sequence[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def chat_bodies(connections: Sequence[ProxiedConnection]) -> list[dict[str, Any]]:
    return [body for conn in connections for line, body in conn.requests()
            if "/chat/completions" in line and body]


async def app_leg(app: AppProcess, to_app: list[ProxiedConnection], direct_url: str,
                  runs: int) -> None:
    """Each app run is followed by a bare replay of the previous run's request: the
    engine's drafts vary, so consecutive prompts differ after their shared opening, and
    both readers find the same kind of partly cached prompt."""
    question = QUESTIONS["en"]
    stages: dict[str, list[float]] = {"asked": [], "model_first": [], "app": [],
                                      "direct": []}
    rate: dict[str, list[float]] = {"app": [], "direct": []}
    per_token: dict[str, list[float]] = {"app": [], "direct": []}
    latencies: list[float] = []
    async with connect(app.ws_url, max_size=None) as ws, \
            httpx.AsyncClient(timeout=600) as http:
        await ws.recv()
        _, _, warm = await ws_chat(ws, question)
        assert warm.get("engine") == "llm", warm
        for _ in range(runs * 2):
            previous = chat_bodies(to_app)[-1]
            sent, chunks, reply = await ws_chat(ws, question)
            assert reply.get("engine") == "llm", reply
            deltas = forwarded_deltas(to_app, sent)
            # Each chunk ends on a delta the proxy passed on: match them by text length.
            ends, offset = {}, 0
            for at, delta in deltas:
                offset += len(delta)
                ends[offset] = at
            offset = 0
            for at, text in chunks:
                offset += len(text)
                if offset in ends:
                    latencies.append(at - ends[offset])
            asked = min(at for conn in to_app for at in conn.sent_at if at >= sent)
            stages["asked"].append(asked - sent)
            stages["model_first"].append(deltas[0][0] - asked)
            stages["app"].append(chunks[0][0] - sent)
            rate["app"].append(tokens_per_s([at for at, _ in deltas]))
            per_token["app"].append((chunks[-1][0] - sent) / len(deltas))
            sent, arrivals = await bare_timed(http, direct_url, previous)
            stages["direct"].append(arrivals[0] - sent)
            rate["direct"].append(tokens_per_s(arrivals))
            per_token["direct"].append((arrivals[-1] - sent) / len(arrivals))
    m = {key: statistics.median(values) for key, values in stages.items()}
    r = {key: statistics.median(values) for key, values in rate.items()}
    w = {key: statistics.median(values) for key, values in per_token.items()}
    print(f"\nchat through the app vs a bare reader of the model's stream ({runs * 2} runs "
          "each, medians):")
    print(f"  time to first token  app {m['app']:.3f} s  direct {m['direct']:.3f} s  "
          f"ratio {m['app'] / m['direct']:.2f}")
    print(f"    of which: chat in -> model asked {1000 * m['asked']:.1f} ms, model asked -> "
          f"first delta at the proxy {m['model_first']:.3f} s")
    print(f"  tokens/s             app {r['app']:.1f}  direct {r['direct']:.1f}  "
          f"ratio {r['app'] / r['direct']:.2f}")
    print(f"  wall per token       app {1000 * w['app']:.1f} ms  direct "
          f"{1000 * w['direct']:.1f} ms  ratio {w['app'] / w['direct']:.3f}")
    print(f"  chat_chunk delivery  p50 {1000 * percentile(latencies, 50):.2f} ms  "
          f"p99 {1000 * percentile(latencies, 99):.2f} ms  max {1000 * max(latencies):.2f} ms"
          f"  ({len(latencies)} chunks; proxy passes a delta -> client has the chunk)")


async def ping_until(ws: ClientConnection, done: asyncio.Event | None,
                     seconds: float) -> list[float]:
    """Ping every 20 ms for ``seconds`` or until ``done``; the round trips in ms."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    rtts = []
    n = 0
    while loop.time() < end and not (done is not None and done.is_set()):
        n += 1
        started = loop.time()
        await ws.send(json.dumps({"type": "ping", "id": f"p{n}"}))
        while json.loads(await ws.recv()).get("id") != f"p{n}":
            pass
        rtts.append(1000 * (loop.time() - started))
        await asyncio.sleep(max(0.0, started + 0.02 - loop.time()))
    return rtts


async def lateness_leg(app: AppProcess) -> None:
    async with connect(app.ws_url) as probe:
        await probe.recv()
        idle = await ping_until(probe, None, 5.0)
        clients = [await connect(app.ws_url, max_size=None) for _ in range(3)]
        for ws in clients:
            await ws.recv()
        done = asyncio.Event()
        chats = [asyncio.ensure_future(ws_chat(ws, question))
                 for ws, question in zip(clients, list(QUESTIONS.values())[:3], strict=True)]
        first = asyncio.ensure_future(asyncio.wait(chats, return_when=asyncio.FIRST_COMPLETED))
        first.add_done_callback(lambda _f: done.set())
        busy = await ping_until(probe, done, 600.0)  # until the generating one is done
        for chat in chats:
            chat.cancel()
        for ws in clients:
            await ws.close()
    print("\nloop lateness as ping round trips (every 20 ms from a fourth client):")
    for name, rtts in (("idle", idle), ("3 clients chatting", busy)):
        print(f"  {name:20} p50 {percentile(rtts, 50):6.2f} ms  p99 {percentile(rtts, 99):6.2f} ms"
              f"  max {max(rtts):6.2f} ms  ({len(rtts)} pings)")
    print(f"  p99 ratio busy/idle {percentile(busy, 99) / percentile(idle, 99):.2f}")


async def timed_chats(app: AppProcess, count: int) -> tuple[list[float], set[str]]:
    """Seconds per (unstreamed) chat, and the fallback reasons given."""
    loop = asyncio.get_running_loop()
    times, reasons = [], set()
    async with connect(app.ws_url) as ws:
        await ws.recv()
        for n in range(count):
            started = loop.time()
            await ws.send(json.dumps({"type": "chat", "id": n, "message": QUESTIONS["en"],
                                      "session_id": f"fallback-{uuid.uuid4().hex}"}))
            while (reply := json.loads(await ws.recv())).get("id") != n:
                pass
            times.append(loop.time() - started)
            reasons.add(reply.get("fallback_reason", reply.get("engine", "?")))
    return times, reasons


async def fallback_leg(runs: int) -> None:
    count = max(5, runs * 3)
    refused_url = f"http://127.0.0.1:{free_port()}/v1"
    home = Path(tempfile.mkdtemp(prefix="llm-bench-fallback-"))
    with running_app(home / "builtin") as app:
        builtin, _ = await timed_chats(app, count)
    with running_app(home / "refused", env={"CODETTE_LLM_URL": refused_url}) as app:
        refused, refused_why = await timed_chats(app, count)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        env = {"CODETTE_LLM_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
               "CODETTE_LLM_TIMEOUT_S": "2"}
        with running_app(home / "silent", env=env) as app:
            hung, hung_why = await timed_chats(app, 2)
    b, r = statistics.median(builtin), statistics.median(refused)
    print(f"\nfallback to the built-in answer ({count} chats each, medians):")
    print(f"  built-in alone       {1000 * b:7.1f} ms")
    print(f"  model refused        {1000 * r:7.1f} ms  ratio {r / b:.2f}  "
          f"({', '.join(refused_why)})")
    print(f"  silent, timeout 2 s  {1000 * statistics.median(hung):7.1f} ms  "
          f"({', '.join(hung_why)})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an OpenAI-compatible base URL (default: start one)")
    parser.add_argument("--model", help="model name (default: the server's first)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--legs", type=lambda text: set(text.split(",")),
                        default={"prompt", "client", "app", "lateness", "fallback"})
    parser.add_argument("--threads", type=int, default=2,
                        help="llama.cpp threads (1 runs faster on a machine shared with "
                             "other work; see tests/llm_server.py)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        url = args.url
        if url is None:
            paths = server_paths()
            if paths is None:
                print(NOT_BUILT, file=sys.stderr)
                return 1
            # Room for the issue's 2,177-token prompt plus the answer.
            server = stack.enter_context(running_llm_server(paths, n_ctx=4096,
                                                            threads=args.threads))
            print(f"llama.cpp server ready in {server.started_s:.1f} s")
            url = server.base_url
        asyncio.run(measure(url.rstrip("/"), args.model, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
