"""Questions in German, Spanish, French, Italian and Portuguese reach the right entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from codette_desktop.engine import ChatQuery, CodetteEngine, KnowledgeBase, MemoryStore
from codette_desktop.engine.language import ENGLISH_NOTICE, detect_language, fold, gloss

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Wie komprimiere ich Gesang richtig?", "de"),
        ("Bassdrum und Bass überlagern sich, was soll ich tun?", "de"),
        ("¿Cómo quito la sibilancia de la voz?", "es"),
        ("Mi mezcla suena embarrada en los medios graves", "es"),
        ("Comment réduire les sifflantes sur la voix ?", "fr"),
        ("Quel niveau LUFS pour mon master sur Spotify ?", "fr"),
        ("Come comprimo la voce?", "it"),
        ("Il mix suona fangoso, cosa faccio?", "it"),
        ("Como comprimir a voz?", "pt"),
        ("Minha mixagem está embolada nos graves", "pt"),
        ("How do I compress vocals?", "en"),
        ("what's the difference between a compressor and a limiter", "en"),
        ("Is my master too loud for Spotify?", "en"),
        ("come on, what about the attack?", "en"),  # "come" is Italian too
        ("ping-pong delay: which note values per side", "en"),  # "per" is English too
    ],
)
def test_detect_language(question: str, language: str) -> None:
    assert detect_language(question) == language


def test_gloss_keeps_numbers_loanwords_and_units() -> None:
    glossed = gloss("Wie viel Pre-Delay sollte der Hall bei 90 BPM haben?")
    assert glossed.language == "de"
    words = glossed.text.split()
    assert {"how", "much", "predelay", "reverb", "90", "BPM"} <= set(words)
    assert "sollte" not in words and "der" not in words
    assert gloss("¿Qué LUFS para un master de -14,5 LUFS?").text.count("-14.5") == 1
    english = gloss("How do I compress vocals?")
    assert english.is_english and english.text == "How do I compress vocals?"
    assert english.notice is None


def test_german_compounds_and_hyphenated_words_are_glossed_by_their_parts() -> None:
    assert "acoustic guitar boomy" in gloss("Die Akustikgitarre dröhnt, was tun?").text
    assert "Attack time" in gloss("Welche Attack-Zeit für die Bassdrum?").text
    assert "guitar track" in gloss("Wie laut soll die Gitarrenspur sein?").text
    assert "compression setting" in gloss("Welche Kompressoreinstellungen?").text


def test_the_lows_are_not_the_bass_guitar() -> None:
    assert "low end kick" in gloss("Qual a frequência do grave do bumbo?").text
    assert (
        "not lost behind guitar"
        in gloss("¿Cómo hago que la voz no se pierda detrás de las guitarras?").text
    )


def test_fold_drops_accents() -> None:
    assert fold("Fréquence") == "frequence"
    assert fold("überlagern") == "uberlagern"
    assert fold("Straße") == "strasse"


@pytest.fixture
def engine(tmp_path: Path):
    memory = MemoryStore(tmp_path / "memory.db")
    yield CodetteEngine(KnowledgeBase.load(FIXTURE_KB), memory, seed=4)
    memory.close()


@pytest.mark.parametrize(
    ("question", "language", "entry", "fact"),
    [
        ("Wie komprimiere ich Gesang richtig?", "de", "vocal-compression", "3:1 to 4:1"),
        ("¿Cómo quito la sibilancia de la voz?", "es", "vocal-de-essing", "5 and 9 kHz"),
        (
            "Quel niveau LUFS pour mon master sur Spotify ?",
            "fr",
            "mastering-loudness-targets",
            "-14",
        ),
        ("Come faccio a rendere la voce più chiara?", "it", "vocal-eq-clarity", "Hz"),
        ("Como comprimir a voz?", "pt", "vocal-compression", "3:1 to 4:1"),
    ],
)
def test_other_languages_reach_the_entry_and_say_the_answer_is_in_english(
    engine: CodetteEngine, question: str, language: str, entry: str, fact: str
) -> None:
    answer = engine.answer(ChatQuery(question, session_id=language))
    assert answer.sources[0]["id"] == entry
    assert answer.response.startswith(ENGLISH_NOTICE[language] + "\n")
    assert fact in answer.response
    assert "outside my field" not in answer.response
    assert answer.grounding is not None and answer.grounding.language == language
    # The grounding shows the English reading the answer was built from.
    assert answer.grounding.resolved_question != question


def test_off_topic_in_another_language_is_still_refused(engine: CodetteEngine) -> None:
    answer = engine.answer(ChatQuery("Wie wird das Wetter morgen in Berlin?", session_id="w"))
    assert "outside my field" in answer.response
    assert answer.grounding is not None and answer.grounding.off_topic
    assert answer.grounding.language == "de"


@pytest.mark.parametrize(
    "greeting", ["Hallo!", "hola", "bonjour", "ciao", "olá", "danke!", "gracias"]
)
def test_greetings_and_thanks_in_other_languages_are_small_talk(
    engine: CodetteEngine, greeting: str
) -> None:
    answer = engine.answer(ChatQuery(greeting, session_id="g"))
    assert "outside my field" not in answer.response
    assert answer.sources == []
