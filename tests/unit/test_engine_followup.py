"""Follow-up questions resolve against the session's topic, also after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from codette_desktop.engine import ChatAnswer, ChatQuery, CodetteEngine, KnowledgeBase, MemoryStore
from codette_desktop.engine.followup import Topic, is_follow_up, merge_values
from codette_desktop.engine.numbers import Reading
from codette_desktop.engine.retrieval import tokenize

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"

TOPIC = Topic(
    entry_id="vocal-compression",
    entry_title="Compressing vocals",
    intent="steps",
    terms=("compression", "vocal"),
    track_family="vocal",
    values=(Reading("bpm", 90.0),),
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


def ask(engine: CodetteEngine, message: str, **kwargs: object) -> ChatAnswer:
    return engine.answer(ChatQuery(message, session_id="s", **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("and what about the attack?", True),
        ("should that go before or after the compressor?", True),
        ("how long should the decay be then?", True),
        ("what ratio?", True),
        ("How do I get a clean low end with kick and bass?", False),
        ("What LUFS should a master have for streaming platforms?", False),
    ],
)
def test_is_follow_up(question: str, follows: bool) -> None:
    assert is_follow_up(question, tokenize(question), TOPIC) is follows
    assert not is_follow_up(question, tokenize(question), None)


def test_a_different_track_is_a_new_question() -> None:
    assert is_follow_up("what ratio?", tokenize("what ratio?"), TOPIC, "vocal")
    assert not is_follow_up("what ratio?", tokenize("what ratio?"), TOPIC, "bass")


def test_topic_json_round_trip_and_junk() -> None:
    assert Topic.from_json(TOPIC.to_json()) == TOPIC
    assert Topic.from_json(None) is None
    assert Topic.from_json({"entry_id": 3}) is None
    old = {"entry_id": "x", "entry_title": "X", "intent": "general", "values": [["bpm", 90]]}
    assert Topic.from_json(old) == Topic("x", "X", "general", (), values=(Reading("bpm", 90.0),))


def test_session_values_merge_by_parameter() -> None:
    merged = merge_values([Reading("bpm", 120.0), Reading("hz", 250.0, "highpass")], TOPIC)
    assert Reading("bpm", 120.0) in merged and Reading("bpm", 90.0) not in merged
    assert Reading("hz", 250.0, "highpass") in merged


def test_the_attack_of_the_topic(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(kb, memory, seed=1)
        ask(engine, "How do I compress vocals?")
        answer = ask(engine, "and what about the attack?")
    assert answer.sources[0]["id"] == "vocal-compression"
    assert "10-30 ms" in answer.response  # the vocal compressor's attack, first
    assert answer.grounding is not None
    assert "following up on: Compressing vocals" in answer.grounding.resolved_question


def test_before_or_after_the_compressor(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(kb, memory, seed=1)
        ask(engine, "How do I de-ess a vocal?")
        answer = ask(engine, "should that go before or after the compressor?")
    assert answer.sources[0]["id"] == "vocal-de-essing"
    opening = answer.response.split("\n")[0]
    assert "after compression" in opening


def test_topic_tempo_and_track_survive_a_restart(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path) as memory:
        ask(CodetteEngine(kb, memory, seed=1), "How much pre-delay at 90 BPM?")
    with MemoryStore(path) as reopened:
        stored = Topic.from_json(reopened.topic("s"))
        assert stored is not None and stored.entry_id == "reverb-predelay-tempo"
        assert Reading("bpm", 90.0) in stored.values
        answer = ask(CodetteEngine(kb, reopened, seed=2), "how long should the decay be then?")
    assert answer.sources[0]["id"] == "reverb-predelay-tempo"
    # The decay worked out at the earlier question's 90 BPM, not the entry's example tempo.
    assert "at 90 bpm a half note is 1333.3 ms" in answer.response.lower()


def test_small_talk_and_refusals_keep_the_topic(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(kb, memory, seed=1)
        ask(engine, "How do I compress vocals?")
        ask(engine, "thanks!")
        ask(engine, "recipe for pancakes")
        assert (Topic.from_json(memory.topic("s")) or TOPIC).entry_id == "vocal-compression"
        assert ask(engine, "and the release?").sources[0]["id"] == "vocal-compression"


def test_a_new_question_is_not_bent_to_the_topic(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(kb, memory, seed=1)
        ask(engine, "How do I compress vocals?")
        answer = ask(engine, "What LUFS should I master to for Spotify?")
    assert answer.sources[0]["id"] == "mastering-loudness-targets"
    assert answer.grounding is not None
    assert "following up" not in answer.grounding.resolved_question


def test_sessions_have_their_own_topics(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(kb, memory, seed=1)
        ask(engine, "How do I compress vocals?")
        other = engine.answer(ChatQuery("and what about the attack?", session_id="other"))
    assert other.grounding is not None
    assert "following up" not in other.grounding.resolved_question
