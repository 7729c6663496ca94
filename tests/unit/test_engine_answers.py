"""The answer answers the question: the asked-for fact first, in every repeat, and the
question's own numbers and the DAW context used as they should be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codette_desktop.engine import ChatAnswer, ChatQuery, CodetteEngine, KnowledgeBase, MemoryStore
from codette_desktop.engine.perspectives import PERSPECTIVES
from codette_desktop.engine.symptoms import find_symptoms, phrase_terms

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"
# Card-like wrappers the answers used to open with instead of the answer.
CARD_HEADERS = re.compile(
    r"Broad question|here's the angle|Engineer's notes|Here's how I'd handle|"
    r"The practical version for|Straight to the session",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


@pytest.fixture
def engine(kb: KnowledgeBase, tmp_path: Path):
    memory = MemoryStore(tmp_path / "memory.db")
    yield CodetteEngine(kb, memory, seed=5)
    memory.close()


def ask(engine: CodetteEngine, message: str, **kwargs: object) -> ChatAnswer:
    kwargs.setdefault("session_id", "s")
    return engine.answer(ChatQuery(message, **kwargs))  # type: ignore[arg-type]


def opening(answer: ChatAnswer) -> str:
    return answer.response.split("\n")[0]


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("What ratio should I use on vocals?", "3:1 to 4:1"),
        ("Where should I set a high-pass on a vocal?", "80-100 Hz"),
        ("What attack should I use on a vocal compressor?", "10-30 ms"),
        ("How much reduction should my de-esser do?", "3-6 dB"),
        ("How much headroom should the mix bus have?", "6 dB"),
    ],
)
def test_the_asked_fact_opens_the_answer(engine: CodetteEngine, question: str, fact: str) -> None:
    answer = ask(engine, question)
    assert fact in opening(answer)


def test_the_key_fact_survives_thirty_repeats(engine: CodetteEngine) -> None:
    answers = [ask(engine, "What ratio should I use on vocals?") for _ in range(30)]
    assert all("3:1 to 4:1" in a.response for a in answers)
    assert all("3:1 to 4:1" in opening(a) for a in answers)
    # ...while the wording still varies: no answer repeats one of the previous five.
    texts = [a.response for a in answers]
    for i, text in enumerate(texts):
        assert text not in texts[max(0, i - 5) : i]
    assert len({a.response.split("\n\n", 1)[-1] for a in answers}) > 10


@pytest.mark.parametrize("perspective", list(PERSPECTIVES))
def test_no_card_headers_and_the_fact_in_every_perspective(
    engine: CodetteEngine, perspective: str
) -> None:
    for question in ("How do I compress vocals?", "How do I make my mix better?"):
        for _ in range(4):
            answer = ask(engine, question, perspective=perspective)
            assert not CARD_HEADERS.search(answer.response), answer.response
    ratio = ask(engine, "What ratio should I use on vocals?", perspective=perspective)
    assert "3:1 to 4:1" in ratio.response


def test_the_opening_echoes_the_question(engine: CodetteEngine) -> None:
    assert opening(ask(engine, "How do I compress my vocals?")).startswith(
        "To compress your vocals: "
    )
    assert opening(ask(engine, "Where should I set a high-pass on a vocal?")).startswith(
        "Where to set a high-pass on a vocal: "
    )


def test_tempo_in_the_question_is_used(engine: CodetteEngine) -> None:
    answer = ask(engine, "How much pre-delay at 90 BPM?")
    assert "At 90 BPM a 1/64 note is 41.7 ms and a 1/32 note 83.3 ms" in opening(answer)
    # The question's tempo wins over the DAW's.
    in_context = ask(engine, "How much pre-delay at 90 BPM?", daw_context={"bpm": 140})
    assert "41.7 ms" in in_context.response
    assert "At 140 BPM" not in in_context.response


def test_a_loudness_reading_on_a_master(engine: CodetteEngine) -> None:
    answer = ask(engine, "my master reads -6 LUFS, is that too loud?")
    assert answer.sources[0]["id"] == "mastering-loudness-targets"
    assert "turn it down about 8.0 dB" in opening(answer)
    assert "-18 dBFS RMS" not in answer.response  # no single-track gain staging on a master


def test_a_master_track_gets_mastering_logic(engine: CodetteEngine) -> None:
    context = {
        "selected_track": {
            "name": "Master",
            "type": "master",
            "peak_level": -0.2,
            "rms_level": -6.5,
        }
    }
    answer = ask(engine, "How loud should this be for streaming?", daw_context=context)
    assert "-1 dBTP" in answer.response
    assert "-18 dBFS" not in answer.response
    assert "very hot for a single track" not in answer.response


def test_the_fader_is_never_read_as_a_level(engine: CodetteEngine) -> None:
    context = {
        "selected_track": {
            "id": "3",
            "name": "Lead Vox",
            "type": "audio",
            "volume": 9.0,
            "inserts": 0,
            "sends": 0,
        },
        "tracks": [],
        "track_counts": {"total": 1, "audio": 1, "aux": 0},
        "bpm": 120,
        "time_signature": "4/4",
    }
    answer = ask(engine, "How should I compress this?", daw_context=context)
    assert answer.sources[0]["id"] == "vocal-compression"  # family from the name
    assert "fader sits at +9.0 dB" in answer.response
    assert "+9.0 dBFS" not in answer.response and "peak" not in opening(answer)
    assert "no insert plugins yet" in answer.response
    reverb = ask(engine, "How much reverb pre-delay should I use?", daw_context=context)
    assert "no sends yet" in reverb.response
    assert "no aux tracks yet" in reverb.response
    assert "tempo your DAW reports" in reverb.response  # that UI's 120 is a default


@pytest.mark.parametrize(
    ("question", "cause"),
    [
        ("my vocals keep getting lost behind the guitars", "masking"),
        ("it sounds thin when I blend the two mics", "polarity"),
        ("why does my song sound quieter than other songs on Spotify", "normalisation"),
        ("my mix sounds muddy", "low-mid"),
        ("the meters keep going into the red", "clipping"),
    ],
)
def test_symptoms_name_their_cause(question: str, cause: str) -> None:
    symptoms = find_symptoms(question)
    assert symptoms and cause in symptoms[0].cause


def test_phrases_imply_index_terms() -> None:
    assert "mono" in phrase_terms("how do I check if my mix works in mono")
    assert phrase_terms("how do I compress vocals") == ()


def test_a_diagnosis_opens_with_the_cause(engine: CodetteEngine) -> None:
    answer = ask(engine, "my vocal sounds muddy")
    assert answer.sources[0]["id"] == "vocal-eq-clarity"
    assert "low-mid build-up" in opening(answer)
    assert "250-400 Hz" in opening(answer)
