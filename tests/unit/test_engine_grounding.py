"""prepare / commit and the Grounding every answer carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from codette_desktop.engine import (
    ChatAnswer,
    ChatQuery,
    CodetteEngine,
    Grounding,
    KnowledgeBase,
    MemoryStore,
)
from codette_desktop.engine.perspectives import INSTRUCTIONS, PERSPECTIVES

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"
CONTEXT = {
    "selected_track": {"id": "3", "name": "Lead Vox", "type": "vocal", "peak_level": -0.5},
    "tracks": [{"id": "3", "name": "Lead Vox", "type": "vocal"}],
}
ANALYSIS = {"measurements": {"integrated_lufs": -8.5, "true_peak_dbtp": 0.3}}


@pytest.fixture
def memory(tmp_path: Path):
    store = MemoryStore(tmp_path / "memory.db")
    yield store
    store.close()


@pytest.fixture
def engine(memory: MemoryStore) -> CodetteEngine:
    return CodetteEngine(KnowledgeBase.load(FIXTURE_KB), memory, seed=7)


def grounding_of(answer: ChatAnswer) -> Grounding:
    assert answer.grounding is not None
    return answer.grounding


def test_prepare_writes_nothing_and_commit_stores_the_exchange(
    engine: CodetteEngine, memory: MemoryStore
) -> None:
    query = ChatQuery("What ratio should I use on vocals?", session_id="s")
    prepared = engine.prepare(query)
    assert memory.count() == 0 and memory.topic("s") is None
    engine.commit(query, prepared)
    history = memory.history("s")
    assert [(m["role"], m["text"]) for m in history] == [
        ("user", "What ratio should I use on vocals?"),
        ("assistant", prepared.response),
    ]
    assert memory.engines("s") == ["builtin"]
    topic = memory.topic("s")
    assert topic is not None and topic["entry_id"] == "vocal-compression"


def test_commit_stores_another_engines_text(engine: CodetteEngine, memory: MemoryStore) -> None:
    query = ChatQuery("What ratio should I use on vocals?", session_id="s")
    prepared = engine.prepare(query)
    engine.commit(query, prepared, response_text="Try 3:1 (model text).", engine_label="llm:qwen")
    assert memory.history("s")[-1]["text"] == "Try 3:1 (model text)."
    assert memory.engines("s") == ["llm:qwen"]
    # The no-repeat check reads what was actually sent.
    assert memory.recent_texts("s") == ["Try 3:1 (model text)."]


def test_answer_is_prepare_then_commit(engine: CodetteEngine, memory: MemoryStore) -> None:
    answer = engine.answer(ChatQuery("How do I compress vocals?", session_id="s"))
    assert memory.recent_texts("s") == [answer.response]
    assert grounding_of(answer).question == "How do I compress vocals?"


def test_facts_lead_with_the_asked_fact(engine: CodetteEngine) -> None:
    answer = engine.answer(ChatQuery("What ratio should I use on vocals?", session_id="s"))
    grounding = grounding_of(answer)
    assert grounding.intent == "ratio"
    assert grounding.facts[0].entry_id == "vocal-compression"
    assert "3:1 to 4:1" in grounding.facts[0].text
    assert grounding.facts[0].kind == "knowledge"
    assert grounding.sources[0] == "vocal-compression"
    assert grounding.language == "en" and not grounding.off_topic
    assert grounding.confidence == answer.confidence
    assert all(f.text in answer.response or f.text[1:] in answer.response for f in grounding.facts)


def test_a_computed_fact_comes_first_when_the_numbers_answer(engine: CodetteEngine) -> None:
    answer = engine.answer(ChatQuery("How much pre-delay at 90 BPM?", session_id="s"))
    first = grounding_of(answer).facts[0]
    assert first.kind == "computed"
    assert "41.7 ms" in first.text
    assert first.entry_id == "reverb-predelay-tempo"


def test_context_analysis_and_recent_turns(engine: CodetteEngine) -> None:
    engine.record_analysis("s", "Mix v3", ANALYSIS)
    engine.answer(ChatQuery("hello", session_id="s"))
    engine.answer(ChatQuery("How do I compress vocals?", session_id="s"))
    answer = engine.prepare(
        ChatQuery("Is my track too loud for Spotify?", session_id="s", daw_context=CONTEXT)
    )
    grounding = grounding_of(answer)
    assert any("'Lead Vox'" in note and "5.5 dB" in note for note in grounding.context_notes)
    assert grounding.analysis_notes[0].startswith(
        "Your last analysis of 'Mix v3' measured -8.5 LUFS"
    )
    roles = [role for role, _ in grounding.recent_turns]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert grounding.recent_turns[0] == ("user", "hello")  # oldest first
    assert grounding.recent_turns[2] == ("user", "How do I compress vocals?")


@pytest.mark.parametrize("perspective", list(PERSPECTIVES))
def test_perspective_instructions(engine: CodetteEngine, perspective: str) -> None:
    answer = engine.prepare(
        ChatQuery("How do I compress vocals?", session_id="s", perspective=perspective)
    )
    grounding = grounding_of(answer)
    assert grounding.perspective == perspective
    assert grounding.perspective_instructions == INSTRUCTIONS[perspective]
    sentences = [s for s in grounding.perspective_instructions.split(". ") if s]
    assert 1 <= len(sentences) <= 2


def test_off_topic_and_small_talk_groundings(engine: CodetteEngine, memory: MemoryStore) -> None:
    refused = engine.answer(ChatQuery("recipe for pancakes", session_id="s"))
    grounding = grounding_of(refused)
    assert grounding.off_topic and grounding.facts == () and grounding.sources == ()
    hello = grounding_of(engine.answer(ChatQuery("hi", session_id="s")))
    assert not hello.off_topic and hello.facts == ()
    assert memory.topic("s") is None  # neither sets a topic


def test_the_no_repeat_check_spans_prepare_and_commit(engine: CodetteEngine) -> None:
    query = ChatQuery("How do I compress vocals?", session_id="s")
    texts = []
    for _ in range(6):
        prepared = engine.prepare(query)
        engine.commit(query, prepared)
        texts.append(prepared.response)
    for i, text in enumerate(texts):
        assert text not in texts[max(0, i - 5) : i]
