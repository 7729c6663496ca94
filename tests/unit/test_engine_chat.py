"""CodetteEngine.answer: confidence, small talk, DAW context, analyses, variation, chunks."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codette_desktop.engine import (
    ChatAnswer,
    ChatQuery,
    CodetteEngine,
    KnowledgeBase,
    MemoryStore,
    split_chunks,
)
from codette_desktop.errors import ProtocolError

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"

VOCAL_CONTEXT: dict[str, Any] = {
    "tracks": [
        {"id": "1", "name": "Kick", "type": "drums"},
        {"id": "2", "name": "Sub Bass", "type": "bass"},
        {"id": "3", "name": "Lead Vox", "type": "vocal"},
    ],
    "selected_track": {
        "id": "3",
        "name": "Lead Vox",
        "type": "vocal",
        "peak_level": -0.5,
        "rms_level": -16.0,
    },
    "bpm": 120,
    "genre": None,
    "project_name": "Demo",
}

ANALYSIS = {
    "analysis_type": "full",
    "codette_insights": "Loud and limited.",
    "mixing_suggestions": ["Back off the limiter"],
    "quality_score": 0.58,
    "measurements": {
        "integrated_lufs": -8.5,
        "true_peak_dbtp": 0.3,
        "loudness_range_lu": 4.2,
        "plr_db": 6.1,
    },
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


@pytest.fixture
def memory(tmp_path: Path):
    store = MemoryStore(tmp_path / "memory.db")
    yield store
    store.close()


@pytest.fixture
def engine(kb: KnowledgeBase, memory: MemoryStore) -> CodetteEngine:
    return CodetteEngine(kb, memory, seed=11)


def ask(engine: CodetteEngine, message: str, **kwargs: Any) -> ChatAnswer:
    kwargs.setdefault("session_id", "s")
    return engine.answer(ChatQuery(message, **kwargs))


# -- the answer object --------------------------------------------------------------


def test_answer_fields_and_sources(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I compress vocals?", perspective="psychological")
    assert answer.session_id == "s"
    assert answer.perspective == "psychological"
    assert answer.sources[0]["id"] == "vocal-compression"
    assert set(answer.sources[0]) == {"id", "title", "score"}
    assert answer.sources[0]["title"] == "Compressing vocals"
    assert answer.sources[0]["score"] > 0
    assert "".join(answer.chunks) == answer.response
    json.dumps(answer.sources)  # the server sends these as they are


def test_suggestions_are_short_and_relate_to_sources(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I compress vocals?")
    assert 2 <= len(answer.suggestions) <= 4
    assert all(isinstance(s, str) and 0 < len(s) < 100 for s in answer.suggestions)
    titles = [s["title"].lower() for s in answer.sources] + ["de-essing", "vocal eq"]
    assert any(any(t in s.lower() for t in titles) for s in answer.suggestions)


def test_question_and_answer_are_stored(engine: CodetteEngine, memory: MemoryStore) -> None:
    answer = ask(engine, "How do I compress vocals?", perspective="philosophical")
    history = memory.history("s")
    assert [(m["role"], m["text"]) for m in history] == [
        ("user", "How do I compress vocals?"),
        ("assistant", answer.response),
    ]
    assert all(m["perspective"] == "philosophical" for m in history)


def test_query_validation() -> None:
    with pytest.raises(ProtocolError) as info:
        ChatQuery("   ", session_id="s")
    assert info.value.field == "message"
    with pytest.raises(ProtocolError) as info:
        ChatQuery("hi", session_id="s", perspective="nope")
    assert info.value.field == "perspective"
    assert ChatQuery("hi", session_id="s", perspective="Quantum Logic").perspective == (
        "quantum_logic"
    )


# -- confidence, off-topic and small talk ------------------------------------------------


def test_confidence_is_high_for_a_clear_question(engine: CodetteEngine) -> None:
    assert ask(engine, "How do I compress vocals?").confidence >= 0.8
    assert ask(engine, "What LUFS should I master to for Spotify?").confidence >= 0.8


def test_confidence_follows_match_strength(engine: CodetteEngine) -> None:
    values = [
        ask(engine, q).confidence
        for q in (
            "How do I compress vocals?",
            "how long should my verb be",
            "what's the capital of France",
        )
    ]
    assert values[0] > values[1] > values[2]
    assert all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize(
    "question",
    [
        "What's the capital of France?",
        "recipe for pancakes",
        "Who won the world cup?",
        "what time is it?",
        "what's the best pancake mix?",
    ],
)
def test_off_topic_is_answered_honestly(engine: CodetteEngine, question: str) -> None:
    answer = ask(engine, question)
    assert answer.confidence < 0.3
    assert "outside my field" in answer.response
    assert "mixing and production" in answer.response
    assert "compression" in answer.response  # says what it can help with
    assert answer.sources == []
    assert 2 <= len(answer.suggestions) <= 4


@pytest.mark.parametrize("greeting", ["hi", "Hello!", "hey codette", "good morning"])
def test_greeting_gets_a_short_intro(engine: CodetteEngine, greeting: str) -> None:
    answer = ask(engine, greeting)
    assert "Codette" in answer.response
    assert "outside my field" not in answer.response
    assert len(answer.response) < 400
    assert answer.sources == []
    assert answer.confidence >= 0.6


def test_greeting_mentions_the_selected_track(engine: CodetteEngine) -> None:
    answer = ask(engine, "hello", daw_context=VOCAL_CONTEXT)
    assert "'Lead Vox' (vocal) track" in answer.response


def test_thanks_and_help(engine: CodetteEngine) -> None:
    thanks = ask(engine, "thanks!")
    assert len(thanks.response) < 120
    assert "outside my field" not in thanks.response
    help_answer = ask(engine, "what can you do?")
    assert "compression" in help_answer.response


def test_broad_studio_question_is_not_off_topic(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I make my mix better?")
    assert "outside my field" not in answer.response
    assert answer.sources
    assert answer.confidence < ask(engine, "How do I compress vocals?").confidence
    # Said plainly, not dressed up as a precise answer.
    assert any(phrase in answer.response for phrase in ("no single answer", "No one setting"))


# -- DAW context ------------------------------------------------------------------------


def test_selected_track_is_addressed_with_headroom_math(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I compress vocals?", daw_context=VOCAL_CONTEXT)
    assert "On your 'Lead Vox' (vocal) track" in answer.response
    assert "pull it down 5.5 dB" in answer.response
    assert "peak around -6 dBFS" in answer.response


def test_mathematical_rigor_shows_headroom_arithmetic(engine: CodetteEngine) -> None:
    answer = ask(
        engine,
        "How do I compress vocals?",
        perspective="mathematical_rigor",
        daw_context=VOCAL_CONTEXT,
    )
    assert "-6.0 − (-0.5) = -5.5 dB" in answer.response
    assert "Crest factor = peak − RMS = -0.5 − (-16.0) = 15.5 dB" in answer.response


def test_copilot_turns_the_level_fix_into_step_one(engine: CodetteEngine) -> None:
    answer = ask(
        engine,
        "How do I compress vocals?",
        perspective="copilot_developer",
        daw_context=VOCAL_CONTEXT,
    )
    assert re.search(
        r"^1\. Lower the clip gain of your 'Lead Vox' \(vocal\) track by 5\.5 dB",
        answer.response,
        re.MULTILINE,
    )


def test_low_rms_mute_and_solo_are_noted(engine: CodetteEngine) -> None:
    context = {
        "tracks": [],
        "selected_track": {
            "name": "Room Mic",
            "type": "audio",
            "rms_level": -48.0,
            "peak_level": -30.0,
            "muted": True,
            "soloed": True,
        },
    }
    answer = ask(engine, "How do I compress vocals?", daw_context=context)
    assert "'Room Mic' (audio) track" in answer.response
    assert "very low for gain staging" in answer.response
    assert "about 24.0 dB" in answer.response  # capped so the peak stays at -6 dBFS
    assert "muted" in answer.response
    assert "soloed" in answer.response


def test_healthy_levels_are_reported(engine: CodetteEngine) -> None:
    context = {
        "selected_track": {"name": "Keys", "type": "keys", "peak_level": -9.0, "rms_level": -21.0}
    }
    answer = ask(engine, "How do I compress vocals?", daw_context=context)
    assert "levels look healthy (peak -9.0 dBFS, RMS -21.0 dBFS" in answer.response
    assert "pull it down" not in answer.response


def test_kick_and_bass_in_session_gives_masking_advice(engine: CodetteEngine) -> None:
    context = {**VOCAL_CONTEXT, "selected_track": {"name": "Sub Bass", "type": "bass"}}
    answer = ask(engine, "How do I get a clean low end?", daw_context=context)
    assert "'Kick' and 'Sub Bass'" in answer.response
    assert "50-100 Hz" in answer.response
    assert "sidechain" in answer.response
    without_kick = {
        "tracks": [{"name": "Sub Bass", "type": "bass"}],
        "selected_track": {"name": "Sub Bass", "type": "bass"},
    }
    assert (
        "'Kick' and"
        not in ask(engine, "How do I get a clean low end?", daw_context=without_kick).response
    )


def test_bpm_gives_tempo_synced_times(engine: CodetteEngine) -> None:
    answer = ask(
        engine, "How much reverb pre-delay should I use?", daw_context={"bpm": 120, "tracks": []}
    )
    assert "At 120 BPM a quarter note is 500 ms (60000 / 120)" in answer.response
    assert "dotted 1/8 = 375 ms" in answer.response
    assert "pre-delay is 31.2 ms" in answer.response
    slower = ask(
        engine, "How much reverb pre-delay should I use?", daw_context={"bpm": 90, "tracks": []}
    )
    assert "a quarter note is 666.7 ms" in slower.response


def test_selected_track_type_boosts_retrieval(engine: CodetteEngine) -> None:
    bass = ask(
        engine,
        "How do I cut the mud?",
        daw_context={"selected_track": {"name": "Bass DI", "type": "bass"}},
    )
    vocal = ask(
        engine,
        "How do I cut the mud?",
        daw_context={"selected_track": {"name": "Lead Vox", "type": "vocal"}},
    )
    assert bass.sources[0]["id"] == "kick-bass-low-end"
    assert vocal.sources[0]["id"] == "vocal-eq-clarity"


def test_vague_question_falls_back_on_the_selected_track(engine: CodetteEngine) -> None:
    context = {"selected_track": {"name": "Lead Vox", "type": "vocal"}}
    answer = ask(engine, "How do I mix this?", daw_context=context)
    assert answer.sources
    assert "outside my field" not in answer.response


def test_junk_context_is_refused_by_the_protocols_own_validation(engine: CodetteEngine) -> None:
    # One schema: the engine reads daw_context through the protocol's DawContext, so junk
    # is refused with the field named, as the server would (it never reaches an answer).
    context = {"tracks": [None, 3, {"name": None}], "selected_track": "Lead", "bpm": "fast"}
    with pytest.raises(ProtocolError) as info:
        ask(engine, "How do I compress vocals?", daw_context=context)
    assert info.value.field == "daw_context.tracks[0]" or info.value.field == "tracks[0]"
    answer = ask(engine, "How do I compress vocals?", daw_context={"tracks": [{"name": None}]})
    assert answer.sources[0]["id"] == "vocal-compression"


# -- earlier analyses -------------------------------------------------------------------


def test_loudness_question_cites_the_last_analysis(engine: CodetteEngine) -> None:
    engine.record_analysis("s", "Mix v3", ANALYSIS)
    answer = ask(engine, "Is my track too loud?")
    assert "Your last analysis of 'Mix v3' measured -8.5 LUFS integrated" in answer.response
    assert "+0.3 dBTP" in answer.response
    assert "5.5 dB above the -14 LUFS" in answer.response
    assert "lower the limiter ceiling by 1.3 dB" in answer.response


def test_analysis_comparison_and_session_isolation(engine: CodetteEngine) -> None:
    engine.record_analysis("s", "Mix v2", {"measurements": {"integrated_lufs": -11.0}})
    engine.record_analysis("s", "Mix v3", ANALYSIS)
    answer = ask(engine, "what did the analysis say about loudness?")
    assert "loudness went up 2.5 dB" in answer.response
    other = ask(engine, "what did the analysis say about loudness?", session_id="other")
    assert "-8.5 LUFS" not in other.response


def test_unrelated_question_does_not_cite_the_analysis(engine: CodetteEngine) -> None:
    engine.record_analysis("s", "Mix v3", ANALYSIS)
    answer = ask(engine, "How do I EQ vocals for clarity?")
    assert "-8.5 LUFS" not in answer.response


# -- variation --------------------------------------------------------------------------


def test_repeated_question_varies_and_stays_relevant(engine: CodetteEngine) -> None:
    answers = [ask(engine, "How do I compress vocals?").response for _ in range(10)]
    relevant = {"vocal-compression"}
    for i, text in enumerate(answers):
        assert text not in answers[max(0, i - 5) : i], i
    sources = [ask(engine, "How do I compress vocals?").sources for _ in range(3)]
    assert all(s[0]["id"] in relevant for s in sources)


@pytest.mark.parametrize(
    "perspective", ["copilot_developer", "mathematical_rigor", "bias_mitigation"]
)
def test_repeats_vary_in_every_perspective(engine: CodetteEngine, perspective: str) -> None:
    answers = [
        ask(engine, "What LUFS should I master to?", perspective=perspective) for _ in range(10)
    ]
    for i, answer in enumerate(answers):
        assert answer.response not in [a.response for a in answers[max(0, i - 5) : i]]
        assert answer.sources[0]["id"] == "mastering-loudness-targets"


def test_repeated_off_topic_and_greetings_vary(engine: CodetteEngine) -> None:
    for message in ("hello", "recipe for pancakes"):
        texts = [ask(engine, message).response for _ in range(10)]
        for i, text in enumerate(texts):
            assert text not in texts[max(0, i - 5) : i]


def test_no_repeat_survives_a_restart(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    # The same seed replays the same random draws; only the stored answers can stop the
    # second engine from repeating the first one's texts.
    first_memory = MemoryStore(path)
    engine = CodetteEngine(kb, first_memory, seed=5)
    first = [ask(engine, "How do I compress vocals?").response for _ in range(5)]
    first_memory.close()
    second_memory = MemoryStore(path)
    try:
        replay = CodetteEngine(kb, second_memory, seed=5)
        second = [ask(replay, "How do I compress vocals?").response for _ in range(5)]
    finally:
        second_memory.close()
    combined = first + second
    for i in range(5, 10):
        assert combined[i] not in combined[i - 5 : i], i


def test_tiny_knowledge_base_still_never_repeats(tmp_path: Path) -> None:
    # One entry, one guidance line, no pitfalls: few wording choices, so the engine has
    # to add material to stay unique.
    entry = {
        "id": "only-entry",
        "title": "Only entry",
        "category": "eq",
        "keywords": ["eq"],
        "track_types": ["any"],
        "summary": "Only.",
        "guidance": ["Cut 3 dB at 300 Hz."],
        "steps": [],
        "perception": "Ears.",
        "math": "3 dB.",
        "pitfalls": [],
        "sources": [],
    }
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "a.json").write_text(json.dumps([entry]), encoding="utf-8")
    tiny = KnowledgeBase.load(tmp_path / "kb")
    with MemoryStore(tmp_path / "m.db") as memory:
        engine = CodetteEngine(tiny, memory, seed=1)
        texts = [ask(engine, "eq?", perspective="copilot_developer").response for _ in range(12)]
    for i, text in enumerate(texts):
        assert text not in texts[max(0, i - 5) : i]
        assert "Cut 3 dB at 300 Hz." in text


# -- chunks -----------------------------------------------------------------------------


def test_chunks_are_sentences_and_numbered_lines(engine: CodetteEngine) -> None:
    answer = ask(
        engine,
        "How do I compress vocals?",
        perspective="copilot_developer",
        daw_context=VOCAL_CONTEXT,
    )
    assert "".join(answer.chunks) == answer.response
    assert len(answer.chunks) > 5
    numbered = [c for c in answer.chunks if re.match(r"\d+\. ", c)]
    assert len(numbered) >= 4
    for chunk in numbered:
        assert "\n" not in chunk.rstrip("\n")  # one line per chunk
    assert all(c.strip() for c in answer.chunks)


def test_split_chunks_known_answer() -> None:
    text = "Cut 3 dB, e.g. at 300 Hz. Then boost 2.5 dB!\n1. Insert. Set it.\n2. Done.\n\nOk?"
    assert split_chunks(text) == [
        "Cut 3 dB, e.g. at 300 Hz. ",
        "Then boost 2.5 dB!\n",
        "1. Insert. Set it.\n",
        "2. Done.\n\n",
        "Ok?",
    ]


@given(st.text())
def test_split_chunks_always_rejoins(text: str) -> None:
    assert "".join(split_chunks(text)) == text


# -- threads and speed ------------------------------------------------------------------


def test_concurrent_answers_from_threads(engine: CodetteEngine, memory: MemoryStore) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                ask(engine, "How do I compress vocals?", session_id=f"t{n}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert memory.count() == 6 * 5 * 2
    for n in range(6):
        texts = memory.recent_texts(f"t{n}", n=5)
        assert len(set(texts)) == 5


@pytest.mark.slow  # a timing test; the speed itself is measured in bench/chat_eval.py
def test_answers_are_fast(engine: CodetteEngine) -> None:
    questions = [
        "How do I compress vocals?",
        "hello",
        "recipe for pancakes",
        "How much reverb pre-delay should I use?",
        "Is my track too loud?",
    ]
    timings = []
    for i in range(30):
        start = time.perf_counter()
        ask(
            engine,
            questions[i % len(questions)],
            daw_context=VOCAL_CONTEXT,
            perspective="mathematical_rigor",
        )
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.020


def test_engine_imports_no_gui_network_or_event_loop() -> None:
    code = (
        "import sys, codette_desktop.engine\n"
        "bad = {'PySide6', 'qasync', 'websockets', 'asyncio', 'sounddevice'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert out.stdout.strip() == "[]"
