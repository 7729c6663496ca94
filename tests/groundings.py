"""Typical groundings for prompt tests and the LLM bench, with real knowledge-base lines.

The engine picks 3-5 lines from one or two entries for a question; these are shaped the
same way so the prompt sizes measured here are the sizes real questions produce.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from codette_desktop.domain.perspectives import PERSPECTIVES
from codette_desktop.engine.grounding import Grounding, GroundingFact
from codette_desktop.engine.knowledge import KnowledgeBase

KNOWLEDGE = Path(__file__).resolve().parent.parent / "resources" / "knowledge"

QUESTIONS = {
    "en": "What attack and release should I use on my lead vocal compressor?",
    "de": "Welche Attack- und Release-Zeiten soll ich am Kompressor für den Lead-Gesang nehmen?",
    "es": "¿Qué ataque y release debo usar en el compresor de la voz principal?",
    "fr": "Quelle attaque et quel release utiliser sur le compresseur de la voix lead ?",
    "it": "Che attacco e rilascio devo usare sul compressore della voce solista?",
    "pt": "Que ataque e release devo usar no compressor da voz principal?",
}


ANALYSIS_NOTES = (
    "Last analysis of 'Lead Vox': -16.8 LUFS integrated, true peak -1.9 dBTP, "
    "crest factor 13.2 dB",
)


def facts(picks: tuple[tuple[str, int], ...]) -> tuple[GroundingFact, ...]:
    """Knowledge-base guidance lines by (entry id, line index)."""
    kb = KnowledgeBase.load(KNOWLEDGE)
    out = []
    for entry_id, index in picks:
        entry = kb.get(entry_id)
        assert entry is not None, entry_id
        out.append(GroundingFact(entry.id, entry.title, entry.guidance[index]))
    return tuple(out)


def vocal_compression(language: str = "en", *, perspective: str = "mix_engineering",
                      with_session: bool = True) -> Grounding:
    """A typical question: three facts from two entries, the DAW context and one earlier
    exchange (the engine adds analysis notes to loudness questions; see ANALYSIS_NOTES)."""
    picked = facts((("vocal-compression", 0), ("compression-attack-release", 2),
                    ("compression-attack-release", 3)))
    grounding = Grounding(
        question=QUESTIONS[language],
        resolved_question=QUESTIONS[language],
        language=language,
        intent="time",
        off_topic=False,
        confidence=0.82,
        perspective=perspective,
        perspective_instructions=PERSPECTIVES[perspective],
        facts=picked,
        sources=tuple(dict.fromkeys(f.entry_id for f in picked)),
    )
    if not with_session:
        return grounding
    return replace(
        grounding,
        context_notes=(
            "Selected track 'Lead Vox' (vocal): fader -3.5 dB, peaks at -4.2 dBFS, RMS -18.0 dBFS",
            "Project tempo 120 BPM: a 16th note lasts 125 ms, an 8th note 250 ms",
        ),
        recent_turns=(
            ("user", "My vocal jumps out in the chorus and hides in the verse."),
            ("assistant", "Ride the fader or clip gain first, then compress 3-6 dB."),
        ),
    )
