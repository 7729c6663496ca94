"""Symptom words to cause words: how a beginner describes a problem, and what it is called.

(Also a few studio phrases whose words alone mislead the index, such as "does my mix
work in mono", which is about mono compatibility rather than about "work".)

"My vocals keep getting lost behind the guitars" contains no word a knowledge entry is
indexed by; the cause is masking. Each rule here matches a way of describing a symptom
and names its usual cause, plus the index terms that find the entries about that cause.
The retrieval adds those terms to the query; the answer can name the cause ("that is
usually masking").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from codette_desktop.engine.retrieval import tokenize


@dataclass(frozen=True, slots=True)
class Symptom:
    """One recognised symptom: its usual cause, and the index terms of that cause."""

    cause: str  # "masking", said in an answer: "that is usually masking"
    terms: tuple[str, ...]  # the cause's own term first, then words around it
    # The question's words that described it ("dull", "narrow"): a description, not a topic.
    described: tuple[str, ...] = ()


_A = r"[^.?!]{0,50}"  # a few words in between, within the sentence
_MIC = r"(?:mics?|microphones?)"
_SMALL_SPEAKERS = r"(?:phones?|laptops?|earbuds|small speakers?|cheap speakers?|tablet)"
_RULES: tuple[tuple[str, str, str], ...] = (
    (
        rf"\b(?:lost|buried|drown\w*|swamp\w*|hidden|covered|disappear\w*|eaten|sinks?)\b{_A}"
        rf"\b(?:behind|under|beneath|in|by|against|below)\b"
        rf"|\bcan'?t (?:hear|make out|understand)\b|\bfighting (?:with )?the (?:vocal|voice)\b"
        rf"|\b(?:gets?|getting|got) lost\b|\blost in the mix\b"
        rf"|\b(?:vocal|voice)\b{_A}\bfight\w*|\bfight\w*{_A}\b(?:vocal|voice)\b"
        # Two parts that run together: "my kick and bass turn into one big blur".
        rf"|\band\b{_A}\b(?:blur\w*|mush\w*|smear together|into one|one big|run together"
        rf"|blend into each other)\b",
        "masking",
        "masking clarity presence",
    ),
    (
        rf"\b(?:thin\w*|hollow|phasey|phasy|weak\w*|comb\w*|cancel\w*|nasal|swirly)\b{_A}\b{_MIC}"
        rf"|\b(?:two|2|both|multiple|second|bottom|top|close|room) {_MIC}{_A}"
        rf"\b(?:thin|hollow|phasey|phasy|weak|cancel\w*|worse)\b"
        rf"|\b(?:blend\w*|combin\w*|add\w*)\b{_A}\b(?:thin|hollow|phasey|phasy|weaker)\b",
        "a polarity or timing (phase) problem between the mics",
        "phase polarity alignment mic",
    ),
    (
        r"\b(?:quiet\w*|softer|not as loud|less loud|lower volume|turned down|weaker)\b"
        rf"{_A}\b(?:spotify|youtube|apple|tidal|amazon|streaming|other (?:songs|tracks|records|"
        r"mixes)|commercial|references?|pro(?:fessional)? (?:songs|mixes|tracks)|radio)\b"
        rf"|\b(?:spotify|youtube|apple music|tidal|streaming)\b{_A}"
        r"\b(?:quieter|turns? (?:it |my \w+ )?down|softer|less loud)\b",
        "loudness normalisation on streaming services",
        "normalisation loudness streaming",
    ),
    (r"\bmudd?y\b|\bmuddiness\b|\bmurky\b|\bwoolly\b|\bcloudy\b", "low-mid build-up", "mud"),
    (r"\bboxy\b|\bcardboard\w*|\bboxiness\b", "boxiness in the low mids", "boxy"),
    (
        r"\bharsh\w*|\bpiercing\b|\bhurts? (?:my )?ears\b|\bfatiguing\b|\bshrill\b|\bbrittle\b"
        r"|\bedgy\b|\bice ?picky?\b",
        "harshness in the upper mids",
        "harsh",
    ),
    (
        r"\bsharp s\b|\bs sounds?\b|\besses\b|\bs letters\b|\bsibil\w*|\bhissy s\b|\bs's\b"
        r"|\bsss+\b",
        "sibilance",
        "sibilance deess",
    ),
    (r"\bpump\w*|\bbreathing\b", "the compressor's release", "release pump"),
    (
        # Said of a sound ("my vocal is clipping", "sounds distorted"), not the technique
        # ("how many dB of clipping?", "parallel distortion", "clip before the limiter").
        r"\bdistort(?:s|ing)\b|\b(?:sounds?|is|are|gets?|getting) (?:\w+ )?distorted\b"
        r"|\b(?:hear|there'?s|there is|getting|unwanted|nasty|ugly) (?:\w+ )?distortion\b"
        r"|\bdistortion (?:on|in) (?:my|the|this)\b|\bcrackl\w*"
        r"|\b(?:is|are|'s|keeps?|starts?|started|still|always|was|were|gets?|getting) "
        r"(?:\w+ )?clipp(?:ing|ed)\b|\bclips\b|\bcrunch\w* when\b|\bbreaking up\b"
        r"|\b(?:in|into) the red\b|\bred (?:light|lights|meters?)\b|\bmeters? (?:go|hit|are) red\b",
        "clipping somewhere in the gain structure",
        "clipping peak gainstaging",
    ),
    (
        r"\bhiss\w*|\bnoisy\b|\bbackground noise\b|\bair condition\w*|\bfan noise\b|\broom noise\b",
        "broadband noise",
        "noise hiss denoise",
    ),
    (r"\bhum\b|\bhumm\w*|\bbuzz\w*|\bmains\b|\bground loop\b", "mains hum", "hum"),
    (
        r"\b(?:sounds?|is|are|feels?) (?:too |so |very )?(?:small|narrow|mono)"
        r"(?: and (?:small|narrow|mono|thin))?\b|\bnot wide\b",
        "stereo width",
        "stereo width",
    ),
    (
        r"\b(?:disappear\w*|vanish\w*|collaps\w*|weird|thin|gone)\b[^.?!]{0,20}\bin mono\b"
        r"|\bmono\b[^.?!]{0,20}\b(?:disappear\w*|vanish\w*|cancel\w*)\b",
        "mono compatibility (phase)",
        "mono correlation phase",
    ),
    (
        rf"\bdifferent (?:in|on) (?:the |my )?(?:car|{_SMALL_SPEAKERS}|headphones|other)\b"
        r"|\b(?:doesn'?t|won'?t|does not) translate\b|\bon other (?:speakers|systems)\b"
        rf"|\bfalls? apart (?:on|in)\b|\bsounds? (?:bad|terrible|awful|worse) (?:on|in)\b",
        "mix translation",
        "translation monitors",
    ),
    (
        r"\btoo many (?:instruments|parts|tracks|layers|things|sounds)\b|\btoo busy\b|\bcrowded\b"
        r"|\bovercrowded\b",
        "a crowded arrangement",
        "arrangement clutter busy",
    ),
    (
        # Washy cymbals are cymbal wash, not reverb build-up.
        r"(?<!cymbals sound )(?<!cymbals are )(?<!hats sound )\bwash\w*|\btoo much reverb\b"
        r"|\bsmear\w*|\bcluttered\b|\bswimming in reverb\b",
        "reverb build-up",
        "reverb decay return highpass",
    ),
    (r"\bboom\w*", "low-end boom", "boomy"),
    (
        r"\b(?:low[- ])?rumbl\w*|\blow[- ](?:frequency )?(?:noise|thump\w*|hum)\b|\bfootsteps?\b"
        r"|\bstand (?:noise|thumps?)\b|\btraffic noise\b",
        "low-frequency rumble",
        "highpass rumble",
    ),
    (
        r"\bdull\b|\bmuffled\b|\blifeless\b|\bdark\b|\black\w* (?:air|sparkle|top)\b",
        "a lack of top end",
        "air bright",
    ),
    (
        r"\bplosives?\b|\bp[- ]pops?\b|\bpopping\b"
        r"|\bpops?\b[^.?!]{0,20}\b(?:p|b|p's|b's|ps|bs|every p)\b",
        "plosives",
        "plosive",
    ),
    (r"\bclicks?\b|\bclicking\b", "clicks at edits", "click crossfade"),
    (
        r"\bno punch\b|\bnot punchy\b|\black\w* punch\b|\bflat\b|\bweak kick\b|\bsoft kick\b",
        "soft transients",
        "punch transient",
    ),
    (
        rf"\b(?:bass|808|sub|kick|low end)\b{_A}\b(?:disappear\w*|vanish\w*|gone|inaudible|"
        rf"can'?t hear|missing)\b{_A}\b{_SMALL_SPEAKERS}"
        rf"|\b(?:audible|hear it|heard) on {_SMALL_SPEAKERS}"
        rf"|\b(?:harder|louder|punch\w*|come through|cut through|translate)\b{_A}"
        rf"\b(?:on|through|in) (?:small speakers?|{_SMALL_SPEAKERS})",
        "missing harmonics on small speakers",
        "harmonics saturation translation",
    ),
    (r"\bnasal\b|\bhonk\w*", "a nasal resonance", "nasal"),
    (
        r"\bsquash\w*|\bover-?compress\w*|\bno dynamics\b|\bsmashed\b",
        "too much compression or limiting",
        "limiter compression dynamics",
    ),
)

# Studio phrases whose words alone mislead the index: not symptoms, so no cause to name.
_PHRASES: tuple[tuple[str, str], ...] = (
    (
        r"\b(?:works?|sounds?|holds? up|check\w*|hear\w*|listen\w*)\b[^.?!]{0,20}\bin mono\b"
        r"|\bmono (?:check|compatib\w*|button)\b",
        "mono correlation compatibility",
    ),
    (
        r"\bhow loud\b[^.?!]{0,25}\b(?:listen|monitor|mix at|play it back|speakers)\b"
        r"|\b(?:listening|monitoring|monitor) (?:level|volume)\b",
        "monitoring level spl",
    ),
    (
        r"\b(?:leave|left|need|keep)\b[^.?!]{0,30}\bfor (?:the )?master(?:ing)?\b"
        r"|\bfor (?:the |a )?mastering engineer\b|\bpremaster",
        "headroom peak",
    ),
    # US broadcast delivery is ATSC A/85 (case matters: "US" is not "us").
    (r"(?-i:\bU\.?S\.?A?\b)|\bamerican\b|\bnorth america\b|\bcalm act\b", "atsc"),
)

_COMPILED = tuple(
    (re.compile(pattern, re.IGNORECASE), Symptom(cause, tuple(tokenize(terms))))
    for pattern, cause, terms in _RULES
)


_COMPILED_PHRASES = tuple(
    (re.compile(pattern, re.IGNORECASE), tuple(tokenize(terms))) for pattern, terms in _PHRASES
)


def find_symptoms(text: str) -> tuple[Symptom, ...]:
    """Every symptom described in ``text`` (an English or glossed question), in rule order."""
    found = []
    for pattern, symptom in _COMPILED:
        match = pattern.search(text)
        # "Louder without it distorting", "avoid clipping": a thing to prevent, not a symptom.
        if match is not None and not _PREVENTED.search(text[: match.start()]):
            found.append(replace(symptom, described=tuple(tokenize(match.group(0)))))
    return tuple(found)


_PREVENTED = re.compile(r"\b(?:without|avoid|avoiding)\s+(?:\w+\s+){0,2}$", re.IGNORECASE)


def phrase_terms(text: str) -> tuple[str, ...]:
    """Index terms implied by studio phrases in ``text`` ("works in mono" -> mono ...)."""
    return tuple(t for pattern, terms in _COMPILED_PHRASES if pattern.search(text) for t in terms)
