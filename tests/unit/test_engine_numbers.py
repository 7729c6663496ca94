"""Numbers in questions and knowledge lines: readings, note values, ranges, judgement."""

from __future__ import annotations

import pytest

from codette_desktop.engine.context import TempoGrid
from codette_desktop.engine.intent import detect_intent
from codette_desktop.engine.numbers import (
    NoteValue,
    Reading,
    note_value,
    readings,
    value_ranges,
    without_readings,
)
from codette_desktop.engine.readings import Worked, asks_judgement, work


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how much pre-delay at 90 BPM?", [Reading("bpm", 90.0)]),
        ("my master reads -6 LUFS", [Reading("lufs", -6.0)]),
        ("my master peaks at −0.1 dBTP", [Reading("dbtp", -0.1, "peak")]),  # Unicode minus
        ("premaster peaks at -1 dBFS", [Reading("dbfs", -1.0, "peak")]),
        ("I mix at 95 dB SPL", [Reading("spl", 95.0)]),
        ("I'm high-passing my vocal at 250 Hz", [Reading("hz", 250.0, "highpass")]),
        ("a shelf at 12k", [Reading("hz", 12000.0, "shelf")]),
        ("vocal compressor attack at 40 ms", [Reading("ms", 40.0, "attack")]),
        ("is a 4:1 ratio too much", [Reading("ratio", 4.0, "ratio")]),
        ("the tempo is 128", [Reading("bpm", 128.0)]),
        ("a decay of 3 seconds", [Reading("s", 3.0, "decay")]),
        ("how many dB of gain reduction", []),  # no number, no reading
        ("at 9000 BPM", []),  # not a tempo
    ],
)
def test_readings(text: str, expected: list[Reading]) -> None:
    assert list(readings(text)) == expected


def test_several_readings_keep_their_order() -> None:
    found = readings("-9 LUFS and 0 dBTP at 100 BPM")
    assert [r.unit for r in found] == ["lufs", "dbtp", "bpm"]


@pytest.mark.parametrize(
    ("text", "fraction", "name"),
    [
        ("dotted eighth at 128 BPM", 3 / 16, "dotted 1/8"),
        ("a 1/16 note at 174", 1 / 16, "1/16"),
        ("quarter note triplet", 1 / 6, "1/4 triplet"),
        ("half note delay", 1 / 2, "1/2"),
    ],
)
def test_note_values(text: str, fraction: float, name: str) -> None:
    note = note_value(text)
    assert note == NoteValue(pytest.approx(fraction), name)


def test_value_ranges_carry_their_parameter() -> None:
    line = "Start points: vocals 5-20 ms attack / 40-120 ms release; kick 10-30 ms / 50-150 ms."
    ranges = value_ranges(line)
    assert [(r.text, r.label) for r in ranges][:2] == [
        ("5-20 ms", "attack"),
        ("40-120 ms", "release"),
    ]
    # A new clause after ";" does not inherit "release".
    assert ranges[2].label is None
    hp = value_ranges(
        "High-pass around 70-100 Hz for male voices and 100-150 Hz for female voices."
    )
    assert [(r.low, r.high, r.label) for r in hp] == [
        (70.0, 100.0, "highpass"),
        (100.0, 150.0, "highpass"),
    ]
    khz = value_ranges("Nasal tone usually sits at 800 Hz-1.2 kHz.")
    assert (khz[0].low, khz[0].high) == (800.0, 1200.0)


def test_reading_numbers_are_taken_out_of_the_retrieval_text() -> None:
    text = without_readings("my master reads -6 LUFS at 90 BPM; is 250 Hz ok with a 4:1 comp?")
    assert "-6" not in text and "90" not in text and "250" not in text
    assert "LUFS" in text and "BPM" in text  # units that say what the question is about
    assert "ratio" in text
    assert "1176" in without_readings("an 1176 on the vocal")  # a model number is no reading


def worked(
    question: str,
    key: tuple[str, ...] = (),
    *,
    programme: bool = False,
    judge: bool = False,
    platforms: tuple[str, ...] = (),
) -> list[Worked]:
    """What a question's own numbers work out to (no tempo given)."""
    return work(
        readings(question),
        None,
        detect_intent(question),
        key,
        (),
        tempo=None,
        tempo_asked=False,
        programme=programme,
        platforms_named=platforms,
        judge=judge,
    )


def test_note_length_at_the_question_tempo() -> None:
    question = "dotted eighth at 128 BPM in ms"
    worked = work(
        readings(question),
        note_value(question),
        detect_intent(question),
        (),
        (),
        tempo=TempoGrid(128.0),
        tempo_asked=True,
        programme=False,
    )
    assert worked[0].answers
    assert "351.6 ms" in worked[0].text
    assert worked[0].math is not None and "468.8 × 0.75 = 351.6 ms" in worked[0].math


def test_loudness_reading_gives_each_platform_its_change() -> None:
    text = " ".join(
        w.text for w in worked("my master reads -6 LUFS, is that too loud?", programme=True)
    )
    assert "Spotify, YouTube, Tidal and Amazon Music (-14 LUFS) turn it down about 8.0 dB" in text
    assert "Apple Music (-16 LUFS) turns it down about 10.0 dB" in text
    assert "-2 dBTP" in text  # a master that loud is safer with a lower ceiling


def test_a_named_platform_is_answered_alone() -> None:
    question = "my master is at -9 LUFS, how much will Apple Music turn it down?"
    first = worked(question, programme=True, platforms=("Apple Music",))[0]
    assert first.text == "At -9 LUFS, Apple Music (-16 LUFS) turns it down about 7.0 dB."


def test_true_peak_and_plr() -> None:
    results = worked("master at -14 LUFS with a -0.2 dBTP peak", programme=True)
    peak = next(w for w in results if "dBTP is" in w.text)
    assert "-0.2 dBTP is 0.8 dB above the -1 dBTP ceiling" in peak.text
    assert "(PLR) is 13.8 LU" in peak.text


def test_values_are_judged_against_the_guidance_only_when_asked() -> None:
    question = "I'm high-passing my vocal at 250 Hz, is that too high?"
    key = ("High-pass around 70-100 Hz for male voices and 100-150 Hz for female voices.",)
    assert asks_judgement(question)

    def judged(ask: bool) -> list[str]:
        return [w.text for w in worked(question, key, judge=ask)]

    assert judged(True) == ["250 Hz is above the 70-150 Hz the guidance gives for the high-pass."]
    assert judged(False) == []
    assert not asks_judgement("Notching 60 Hz hum plus harmonics, what Q?")


def test_judged_times_use_the_parameter_of_the_value() -> None:
    question = "vocal compressor attack at 40 ms, too slow?"
    line = "Start at 3:1-4:1, attack 5-20 ms, release 40-120 ms (or auto)."
    (verdict,) = worked(question, (line,), judge=True)
    # 40 ms is inside the release range but this is an attack: compared with 5-20 ms.
    assert verdict.text == "40 ms is slower than the 5-20 ms the guidance gives for the attack."
