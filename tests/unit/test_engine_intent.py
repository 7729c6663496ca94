"""What a question asks for: intent kinds, the settings it names, compared things."""

from __future__ import annotations

import pytest

from codette_desktop.engine.grounding import INTENTS
from codette_desktop.engine.intent import content_text, detect_intent, intent_values, plain_amounts
from codette_desktop.engine.retrieval import canonical


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Where should I set a high-pass filter on a lead vocal?", "frequency"),
        ("What frequency is the snare crack?", "frequency"),
        ("kick EQ: where's the beater click?", "frequency"),
        ("What compression ratio is a good starting point for vocals?", "ratio"),
        ("glue compression on the drum bus, which ratio?", "ratio"),
        ("what attack should I use on a kick compressor", "time"),
        ("how long should my reverb tail be", "time"),
        ("dotted eighth at 128 BPM in ms", "time"),
        ("How loud should my master be for Spotify?", "level"),
        ("how many dB of gain reduction on the mix bus?", "level"),
        ("pan law: -3 or -6 dB?", "level"),  # a choice of values is a value question
        ("what's the difference between a compressor and a limiter", "difference"),
        ("Apple Music versus YouTube loudness", "difference"),
        ("should the de-esser go before or after the compressor?", "difference"),
        ("How do I compress vocals?", "steps"),
        ("how to set up a noise gate on toms", "steps"),
        ("should I high-pass everything?", "yes_no"),
        ("is it ok to put a limiter on my mix bus?", "yes_no"),
        ("my vocals keep getting lost behind the guitars", "diagnosis"),
        ("why does my mix sound harsh on the loud parts", "diagnosis"),
        ("there's a humming noise in my guitar track", "diagnosis"),
        ("tell me something about plates", "general"),
        ("how far should I be from the microphone when I sing", "distance"),
        ("NY comp on drums: how far below the dry should the blend sit", "level"),
        ("my mix sounds dull compared to commercial songs", "diagnosis"),  # measured, not compared
        ("and how loud compared to the lead?", "level"),
        ("what does K-weighting do to a LUFS reading", "general"),  # what it is, not a value
        ("how much time for the delay of voice", "time"),
    ],
)
def test_intent_kind(question: str, kind: str) -> None:
    assert kind in INTENTS
    assert detect_intent(question).kind == kind


def test_glossed_questions_get_an_intent_too() -> None:
    # What language.gloss makes of "Wo setze ich den Hochpassfilter beim Gesang?".
    assert detect_intent("where set i highpass at vocal ?").kind == "frequency"
    assert detect_intent("how compression vocal ?").kind == "steps"


def test_aspects_are_the_settings_named() -> None:
    intent = detect_intent("what attack and release for a vocal compressor?")
    assert {canonical("attack"), canonical("release")} <= intent.aspects
    assert canonical("vocal") not in intent.aspects  # the subject, not a setting


def test_quantity_phrases_are_not_topic_words() -> None:
    # "How loud" asks for a level; it is not a question about loudness processing.
    assert "loud" not in content_text("how loud should I listen when I mix").split()
    assert canonical("loudness") not in detect_intent("how loud should it be?").aspects


def test_difference_names_both_sides() -> None:
    intent = detect_intent("what's the difference between linear phase and normal EQ")
    assert intent.kind == "difference"
    first, second = intent.compared
    assert canonical("linear") in first and canonical("phase") in first
    assert canonical("eq") in second


def test_placement_and_explain_flags() -> None:
    placement = detect_intent("where does the de-esser go in the vocal chain?")
    assert placement.placement
    assert {"before", "after", "order"} <= placement.aspects
    assert detect_intent("what is a de-esser?").explain
    assert detect_intent("what does a compressor actually do").explain
    assert not detect_intent("what's a good delay time for vocals").explain


@pytest.mark.parametrize(
    ("line", "kind", "count"),
    [
        (
            "High-pass around 70-100 Hz for male voices and 100-150 Hz for female voices.",
            "frequency",
            2,
        ),
        ("Start at 3:1-4:1, attack 5-20 ms, release 40-120 ms.", "ratio", 2),
        ("Start at 3:1-4:1, attack 5-20 ms, release 40-120 ms.", "time", 2),
        ("Keep true peak at or below -1 dBTP.", "level", 1),
        ("Feedback of 10-30% gives 2-4 audible repeats.", "level", 0),
        ("Slopes of 12-18 dB/oct sound natural.", "level", 0),  # a slope, not a level
        ("Take a 10-15 minute break every hour or so.", "time", 1),
        ("decay ≈ a half note to a whole note", "time", 2),
        ("Distance: 15-30 cm for most singing.", "distance", 1),
    ],
)
def test_intent_values_count_the_asked_kind(line: str, kind: str, count: int) -> None:
    assert intent_values(line, kind) == count


def test_relative_and_absolute_levels() -> None:
    relative = detect_intent("and how loud compared to the lead?")
    assert relative.relative and not relative.absolute
    absolute = detect_intent("US TV broadcast loudness spec")
    assert absolute.absolute and not absolute.relative


def test_how_hard_reads_as_how_much() -> None:
    assert plain_amounts("how hard should I compress this?") == "how much should I compress this?"
    assert detect_intent(plain_amounts("how hard should I compress this?")).kind == "level"


def test_percent_counts_as_a_level_only_for_percent_settings() -> None:
    line = "Feedback of 10-30% gives 2-4 audible repeats."
    assert intent_values(line, "level", percent=True) == 1
