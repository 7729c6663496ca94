"""Chat quality bench: does the engine answer the question that was asked?

    .venv/bin/python bench/chat_eval.py [--knowledge DIR] [--repeats 5] [--failures]

Runs the labelled questions in ``bench/chat_eval_set.json`` through a real
:class:`CodetteEngine` (real knowledge base, real SQLite memory in a temporary folder).
Each item names the entry that should answer it (``expect``, one id or a list of
acceptable ids; ``null`` for an off-topic question that must be refused) and the key
fact as a regex (``key``, case-insensitive; ``forbid`` is a regex that must not appear).
Follow-up items replay their ``chain`` in the same session first; ``daw_context`` and
``perspective`` are passed as the frontend would. ``batch`` (optional, default 1) marks
when a question was written: batch 2 (q348 on) was written and split before the second
tuning pass, so its held-out questions check that pass's fixes on phrasings it never saw;
batch 3 (all in the tune part) was added during that pass for more tuning material.

Every question is asked ``--repeats`` times in its session (the engine must vary the
wording and never repeat itself), so "key fact" is the share of all those answers that
carry the fact. Printed for the ``tune`` part and the ``held_out`` part (never tuned on):

- top-1 entry accuracy (first answer's first source), over all on-topic items and over
  the items whose expected entry exists in the loaded knowledge base;
- key-fact presence over the repeats, and how often the grounding's first fact (the
  one a local model's prompt leads with) carries it when the answer does;
- refusal precision and recall (off-topic items must be refused, the others not);
- mean confidence of right answers (right entry and key fact) versus wrong ones;
- answer time p50/p99, with the ratio to a bare BM25 search of the same questions
  measured in the same run.

``--failures`` lists the tune part's misses (the held-out part's are never printed).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codette_desktop.engine import (  # noqa: E402
    ChatAnswer,
    ChatQuery,
    CodetteEngine,
    KnowledgeBase,
    MemoryStore,
)

DEFAULT_SET = Path(__file__).with_name("chat_eval_set.json")
DEFAULT_KNOWLEDGE = ROOT / "resources" / "knowledge"
PARTS = ("tune", "held_out")


@dataclass
class Outcome:
    item: dict[str, Any]
    answers: list[ChatAnswer]
    seconds: list[float]
    known: bool  # the expected entry exists in the knowledge base

    @property
    def on_topic(self) -> bool:
        return self.item["expect"] is not None

    @property
    def first(self) -> ChatAnswer:
        return self.answers[0]

    @property
    def top1(self) -> str | None:
        sources = self.first.sources
        return sources[0]["id"] if sources else None

    @property
    def top1_right(self) -> bool:
        return self.on_topic and self.top1 in _expected(self.item)

    def key_hits(self) -> list[bool]:
        key, forbid = self.item.get("key"), self.item.get("forbid")
        hits = []
        for answer in self.answers:
            hit = key is None or re.search(key, answer.response, re.IGNORECASE) is not None
            if forbid and re.search(forbid, answer.response, re.IGNORECASE):
                hit = False
            hits.append(hit)
        return hits

    def grounding_hits(self) -> list[bool]:
        """Whether the grounding's first fact (what a model's prompt leads with) carries the
        key fact, per answer."""
        key = self.item.get("key")
        hits = []
        for answer in self.answers:
            facts = answer.grounding.facts if answer.grounding is not None else ()
            first = facts[0].text if facts else ""
            hits.append(key is None or re.search(key, first, re.IGNORECASE) is not None)
        return hits

    @property
    def refused(self) -> bool:
        grounding = getattr(self.first, "grounding", None)
        if grounding is not None:
            return bool(grounding.off_topic)
        return "outside my field" in self.first.response

    @property
    def right(self) -> bool:
        return self.top1_right and self.key_hits()[0] and not self.refused


@dataclass
class Figures:
    outcomes: list[Outcome] = field(default_factory=list)

    def report(self, name: str) -> list[str]:
        on = [o for o in self.outcomes if o.on_topic]
        off = [o for o in self.outcomes if not o.on_topic]
        known = [o for o in on if o.known]
        lines = [
            f"{name}: {len(self.outcomes)} questions ({len(on)} on-topic, {len(off)} off-topic)"
        ]
        lines.append(
            f"  top-1 entry accuracy      {_pct(sum(o.top1_right for o in on), len(on))}"
            f"   (entries present: {_pct(sum(o.top1_right for o in known), len(known))},"
            f" {len(on) - len(known)} expect an entry not in this knowledge base)"
        )
        hits = [h for o in on for h in o.key_hits()]
        known_hits = [h for o in known for h in o.key_hits()]
        lines.append(
            f"  key-fact presence         {_pct(sum(hits), len(hits))}"
            f"   (entries present: {_pct(sum(known_hits), len(known_hits))})"
        )
        # Of the answers with the right entry and the key fact: does the grounding's first
        # fact hold it too?
        first = [
            g
            for o in on
            if o.top1_right
            for g, h in zip(o.grounding_hits(), o.key_hits(), strict=True)
            if h
        ]
        lines.append(f"  key fact in facts[0]      {_pct(sum(first), len(first))}")
        refused = [o for o in self.outcomes if o.refused]
        true_refusals = sum(1 for o in refused if not o.on_topic)
        lines.append(
            f"  refusal precision         {_pct(true_refusals, len(refused))}"
            f"   recall {_pct(true_refusals, len(off))}"
        )
        right = [o.first.confidence for o in on if o.right]
        wrong = [o.first.confidence for o in on if not o.right]
        off_conf = [o.first.confidence for o in off]
        lines.append(
            f"  mean confidence           right {_mean(right)} (n={len(right)})"
            f"   wrong {_mean(wrong)} (n={len(wrong)})   off-topic {_mean(off_conf)}"
        )
        batches = sorted({o.item.get("batch", 1) for o in self.outcomes})
        for batch in batches if len(batches) > 1 else ():
            chosen = [o for o in on if o.item.get("batch", 1) == batch]
            batch_hits = [h for o in chosen for h in o.key_hits()]
            lines.append(
                f"  batch {batch}: top-1 {_pct(sum(o.top1_right for o in chosen), len(chosen))}"
                f"   key fact {_pct(sum(batch_hits), len(batch_hits))}"
            )
        return lines


def _expected(item: dict[str, Any]) -> tuple[str, ...]:
    expect = item["expect"]
    if expect is None:
        return ()
    return (expect,) if isinstance(expect, str) else tuple(expect)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f} % ({part}/{whole})" if whole else "   n/a"


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f}" if values else "n/a"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_item(
    engine: CodetteEngine, kb: KnowledgeBase, item: dict[str, Any], repeats: int
) -> Outcome:
    session = item["id"]
    perspective = item.get("perspective", "mix_engineering")
    context = item.get("daw_context")
    for earlier in item.get("chain", []):
        engine.answer(ChatQuery(earlier, session, perspective, context))
    answers: list[ChatAnswer] = []
    seconds: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        answers.append(engine.answer(ChatQuery(item["question"], session, perspective, context)))
        seconds.append(time.perf_counter() - start)
    known = any(kb.get(entry_id) is not None for entry_id in _expected(item))
    return Outcome(item, answers, seconds, known)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--knowledge", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", action="store_true", help="list the tune part's misses")
    args = parser.parse_args()

    items = json.loads(args.set.read_text(encoding="utf-8"))
    kb = KnowledgeBase.load(args.knowledge)
    parts = {name: Figures() for name in PARTS}
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, MemoryStore(Path(tmp) / "eval.db") as memory:
        engine = CodetteEngine(kb, memory, seed=args.seed)
        for item in items:
            outcome = run_item(engine, kb, item, args.repeats)
            parts[item["split"]].outcomes.append(outcome)
            times += outcome.seconds
        # Baseline measured in the same run: the bare BM25 search of the same questions.
        search_times = []
        for item in items:
            start = time.perf_counter()
            kb.search(item["question"])
            search_times.append(time.perf_counter() - start)

    print(f"knowledge base: {len(kb)} entries from {args.knowledge}")
    print(f"{len(items)} questions, each asked {args.repeats} times\n")
    for name in PARTS:
        print("\n".join(parts[name].report(name)))
        print()
    all_outcomes = [o for name in PARTS for o in parts[name].outcomes]
    print(
        "kinds (top-1 / key fact, both parts): "
        + ", ".join(
            _kind_summary(all_outcomes, kind) for kind in dict.fromkeys(i["kind"] for i in items)
        )
    )
    ms = [t * 1000 for t in times]
    base = [t * 1000 for t in search_times]
    ratio = percentile(ms, 50) / percentile(base, 50)
    print(
        f"\nanswer time over {len(ms)} answers (ms): p50 {percentile(ms, 50):.2f}  "
        f"p99 {percentile(ms, 99):.2f}  max {max(ms):.2f}   bare search p50 "
        f"{percentile(base, 50):.3f}  ratio p50 answer/search {ratio:.1f}"
    )
    if args.failures:
        print("\ntune-part misses:")
        for outcome in parts["tune"].outcomes:
            _print_failure(outcome)


def _kind_summary(outcomes: list[Outcome], kind: str) -> str:
    chosen = [o for o in outcomes if o.item["kind"] == kind]
    on = [o for o in chosen if o.on_topic]
    if not on:
        refused = sum(o.refused for o in chosen)
        return f"{kind} refused {refused}/{len(chosen)}"
    top1 = sum(o.top1_right for o in on)
    hits = [h for o in on for h in o.key_hits()]
    return f"{kind} {top1}/{len(on)} {100.0 * sum(hits) / len(hits):.0f}%"


def _print_failure(outcome: Outcome) -> None:
    item = outcome.item
    hits = outcome.key_hits()
    problems = []
    if outcome.on_topic and not outcome.top1_right:
        problems.append(f"top-1 {outcome.top1} (want {'/'.join(_expected(item))})")
    if outcome.on_topic and not all(hits):
        problems.append(f"key fact {sum(hits)}/{len(hits)}")
    if outcome.refused != (not outcome.on_topic):
        problems.append("refused" if outcome.refused else "not refused")
    if not problems:
        return
    missing = "" if outcome.known or not outcome.on_topic else " [entry missing]"
    print(
        f"- {item['id']} {item['kind']}{missing}: {item['question']!r}: {'; '.join(problems)}"
        f"  conf {outcome.first.confidence:.2f}"
    )
    if not all(hits):
        miss = outcome.answers[hits.index(False)]
        print("    " + miss.response.replace("\n", "\n    ")[:600])


if __name__ == "__main__":
    main()
