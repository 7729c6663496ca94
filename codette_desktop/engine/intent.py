"""What a question asks for: a frequency, a ratio, a time, a level, a difference, steps,
yes or no, or the cause of a symptom (the kinds of :data:`~.grounding.INTENTS`).

The intent decides which knowledge line must come first: "What ratio for vocals?" needs
the line with ``3:1-4:1`` in it, "Where should I high-pass a vocal?" the one with
``70-100 Hz``. Detection is a handful of cue patterns over the English (or glossed)
question; :func:`intent_values` counts the values of that kind a knowledge line carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codette_desktop.engine.retrieval import canonical, tokenize

# Terms that name a setting or a part of a sound rather than an instrument or a process:
# a question made only of these ("what ratio?", "and the attack?") is about the topic
# already under discussion.
_PARAMETER_TEXT = """
    attack release ratio threshold knee hold decay predelay feedback ceiling lookahead
    highpass lowpass shelf slope q makeup gain reduction level loud loudness db hz khz ms
    time frequency setting settings value amount wet dry blend send return order chain
    placement go target tolerance cut boost range band width pan bottom top peak peaks
    limit growl boxiness boxy click crack body air presence thump mud muddy boom bite
    sizzle fizz"""
PARAMETER_TERMS = frozenset(canonical(w) for w in _PARAMETER_TEXT.split())
# Words that grade a setting ("too fast", "a high ratio") without naming one or a subject.
_DESCRIPTOR_TEXT = "long short fast slow much many far high low first last before after"
DESCRIPTOR_TERMS = frozenset(canonical(w) for w in _DESCRIPTOR_TEXT.split())

_FLAGS = re.IGNORECASE
_WH = r"(?:what|which|where|how|when|why)"
# A question word asking for a quantity ("what ratio", "how long", "how many dB").
_ASKS_QUANTITY = re.compile(
    r"\b(?:what|which|how much|how many|how long|how fast|how slow|how high|how low|how far"
    r"|how loud|how hot|how quiet|where|at what|good|best|typical|starting|start)\b",
    _FLAGS,
)
_FREQUENCY = re.compile(
    r"\bhigh-?pass\w*|\bhpf\b|\blow-?pass\w*|\blpf\b|\blow[- ]cut\b|\bfrequenc|\b(?:k?hz)\b"
    r"|\bwhich (?:band|range)\b|\bwhat range\b"
    r"|\bwhere(?:'s| is| are| does| do| should| would| can| to)?\b[^?]*\b(?:cut|boost|high-?pass\w*"
    r"|low-?pass\w*|hpf|lpf|filter|shelf|notch|eq|growl|click|crack|air|presence|body|boom"
    r"|boxiness|boxy|mud|muddiness|thump|bite|sizzle|fizz|bark|harshness|sibilance|live|lives"
    r"|sit|sits)\b",
    _FLAGS,
)
# "How far from the mic?" asks for a distance; "how far below the dry?" for a level.
_DISTANCE = re.compile(
    r"\bdistances?\b|\bhow (?:far|close)\b[^?]{0,40}\b(?:from|away|apart|to|between)\b"
    r"|\b\d+(?:\.\d+)?\s*(?:cm|mm|centimet\w+|inch(?:es)?|feet|ft|metres?|meters?)\b",
    _FLAGS,
)
_RATIO = re.compile(r"\bratios?\b|\bthresholds?\b|\bknee\b|\d\s*:\s*1\b", _FLAGS)
_TIME = re.compile(
    r"\battack\b|\brelease\b|\bpre-?delay\b|\bdecay\b|\bhold\b|\bhow long\b|\bdelay times?\b"
    r"|\bms\b|\bmilliseconds?\b|\d\s*s(?:ec(?:ond)?s?)?\b|\bin seconds\b|\bhow many seconds\b"
    r"|\blook-?ahead\b|\breverb time\b|\btail\b|\bhow fast\b"
    r"|\b(?:quarter|eighth|sixteenth|dotted|triplet)\b|\b1/\d+\b|\bhalf note\b|\bin ms\b"
    r"|\bhow much (?:later|earlier|longer|shorter|faster|slower|time)\b|\blengths?\b|\btimes?\b",
    _FLAGS,
)
_LEVEL = re.compile(
    r"\bhow (?:loud|hot|quiet)\b|\b(?:lufs|lkfs|dbtp|dbfs|spl|lu)\b|\bdb\b|\bceiling\b"
    r"|\bheadroom\b|\blevels?\b|\btarget\b|\bgain reduction\b|\bgr\b|\btolerance\b"
    r"|\bhow much (?:gain|compression|limiting|reduction|louder|quieter|db)\b"
    r"|\bhow far\b|\bplr\b|\blra\b|\btrue[- ]?peak|\bpan\b"
    r"|\bpeaks?\b|\bloudness\b|\bturn (?:it )?(?:down|up)\b|\bfeedback\b|\bhow wide\b"
    r"|\bhow much\b",
    _FLAGS,
)
_DIFFERENCE = re.compile(
    r"\bdifferen(?:ce|t)\b|\bvs\.?\b|\bversus\b|\bcompared? (?:to|with)\b|\binstead of\b"
    r"|\bwhich is better\b|\bbefore or after\b|\bafter or before\b|\bor\b[^,]{1,30}\?\s*$"
    r"|\bjust an? [\w-]+ with\b|\bthe same (?:as|thing)\b|\bsame thing\b",
    _FLAGS,
)
# Cues that name a difference outright; "compared to" alone may just measure a symptom.
_NAMED_DIFFERENCE = re.compile(
    r"\bdifferen(?:ce|t)\b|\bvs\.?\b|\bversus\b|\bwhich is better\b|\bor\b|\bsame\b", _FLAGS
)
_PLACEMENT = re.compile(
    r"\bbefore\b[^?.]*\bor after\b|\bafter\b[^?.]*\bor before\b"
    r"|\bwhere (?:does|do|should) (?:the |a |my )?[\w-]+(?: [\w-]+)? go\b"
    r"|\bin (?:the|my|what) (?:chain|order)\b|\bwhich order\b|\bwhat order\b"
    r"|\b(?:go|goes|put it|place it|insert it) (?:first|last|before|after)\b",
    _FLAGS,
)
_STEPS = re.compile(
    r"^\W*(?:so |and |ok |okay )?(?:how (?:do|can|should|would) (?:i|you|we)|how i|walk me through"
    r"|what'?s the (?:process|workflow)|steps?\b|set up|setup|show me how"
    r"|how (?!much|many|long|loud|fast|far|high|low|wide|hot|quiet|often|is|are|does|do)[a-z]+)\b"
    r"|\bstep by step\b|\bhow to\b",
    _FLAGS,
)
_YES_NO = re.compile(
    r"^\s*(?:so |and |but |ok |okay )?(?:should|is|are|can|do|does|did|will|would|must|could"
    r"|shall|am|was|isn'?t|doesn'?t|don'?t|need)\b",
    _FLAGS,
)
_DIAGNOSIS = re.compile(
    r"\bwhy (?:does|is|do|are|did|my)\b|\b(?:keeps?|keep on) (?:getting|sounding|clipping|being)\b"
    r"|\b(?:sounds?|sounding|feels?|gets?|getting|is|are|too) "
    r"(?:too |so |really |very |a bit |kind of )?"
    r"(?:muddy|thin|harsh|boomy|boxy|dull|quiet|quieter|distorted|lost|buried|small|flat|weak"
    r"|washy|hollow|nasal|sharp|piercing|muffled|honky|brittle|squashed|lifeless|narrow|phasey"
    r"|swamped|drowned|different)\b|\bproblem\b|\bdisappears?\b|\bclash\w*|\bfight\w*"
    r"|\b(?:muddy|washy|boomy|boxy|harsh|hollow|phasey|thin|thinner|muffled|masking|distorted)\b"
    r"|\bthere'?s (?:a |an |some )?[\w ]*(?:noise|hum|hiss|buzz|click|pop)",
    _FLAGS,
)
_EXPLAIN = re.compile(
    r"^\W*(?:so |and |ok )?(?:what(?:'s| is| are) (?:a |an |the )?[\w/-]+(?: [\w/-]+)?\s*\??\s*$"
    r"|what(?:'s| is| are) (?:a |an |the )?[\w/-]+(?: [\w/-]+)? and (?:how|what)\b|explain\b"
    r"|define\b|what means?\b|what does (?:an? |the )?[\w/-]+(?: [\w/-]+)? mean\b|meaning of\b"
    r"|what do(?:es)? (?:an? |the )?[\w/-]+(?: [\w/-]+)? (?:actually )?do\b|tell me about\b"
    r"|how does (?:an? |the )?[\w/-]+(?: [\w/-]+)? work\b|what(?:'s| is) the point of\b)",
    _FLAGS,
)
_WHY = re.compile(r"^\W*(?:so |and |but )?why\b", _FLAGS)
_BEGINNER = re.compile(
    r"\b(?:basics|beginners?|newbie|for dummies|explained|in simple terms)\b", _FLAGS
)
_ABSOLUTE = re.compile(
    r"\bhow loud\b|\bloudness\b(?! range)|\btarget loudness\b|\blufs\b|\bspl\b", _FLAGS
)
_RELATIVE = re.compile(
    r"\bcompared (?:to|with)\b|\bthan\b|\brelative to\b|\b(?:under|below|above|over) the\b",
    _FLAGS,
)
_QUANTITY_KINDS = (
    ("distance", _DISTANCE),
    ("frequency", _FREQUENCY),
    ("ratio", _RATIO),
    ("time", _TIME),
    ("level", _LEVEL),
)
_BETWEEN = re.compile(
    r"\bbetween (?:a |an |the )?(?P<a>.+?) and (?:a |an |the )?(?P<b>.+?)(?:\?|$|,| for | on | in )"
    r"|(?P<c>[\w/ -]+?) (?:vs\.?|versus|compared (?:to|with)|or|instead of) (?:a |an |the )?"
    r"(?P<d>[\w/ -]+?)(?:\?|$|,| for | on | in | loudness| settings)"
    r"|(?P<e>[\w-]+) (?:is |are )?(?:just |really )?(?:an? |the )?same (?:as|thing as) "
    r"(?:an? |the )?(?P<f>[\w-]+)|(?P<g>[\w-]+) (?:is |are )?just an? (?P<h>[\w-]+)",
    _FLAGS,
)


@dataclass(frozen=True, slots=True)
class Intent:
    """What the question asks for.

    ``aspects`` are its canonical terms that name a setting or a region of the sound
    ("attack", "highpass", "mud"); ``compared`` the term groups set against each other in
    a difference question; ``explain`` marks an entry-level "what is / what does X do";
    ``placement`` a question about where something goes in a chain.
    """

    kind: str
    aspects: frozenset[str]
    compared: tuple[frozenset[str], ...] = ()
    explain: bool = False
    placement: bool = False
    absolute: bool = False  # asks how loud in absolute terms (LUFS, dB SPL), not a dB change
    relative: bool = False  # asks how loud against something else ("compared to the lead")


# Question phrases that ask for a quantity: "how loud" asks for a level, it is not about
# loudness as a topic, so its words do not pick knowledge lines.
_QUANTITY_PHRASES = re.compile(
    r"\bhow (?:loud|long|much|many|far|wide|fast|slow|high|low|hot|quiet|often)\b", _FLAGS
)


# "How hard should I compress?" asks how much, not about hard knees or hard clipping.
_AMOUNT_WORDS = re.compile(r"\bhow (?:hard|heavily|strongly|aggressively|heavy)\b", _FLAGS)


def plain_amounts(text: str) -> str:
    """``text`` with "how hard", "how heavily" ... read as "how much"."""
    return _AMOUNT_WORDS.sub("how much", text)


def content_text(text: str) -> str:
    """``text`` without the phrases that only ask for a quantity ("how loud", "how long")."""
    return _QUANTITY_PHRASES.sub(" ", text)


def detect_intent(text: str) -> Intent:
    """The intent of an English (or glossed) question."""
    terms = tokenize(content_text(text))
    aspects = frozenset(t for t in terms if t in PARAMETER_TERMS)
    placement = bool(_PLACEMENT.search(text))
    explain = bool(_EXPLAIN.search(text)) and not _ASKS_NUMBERS.search(text)
    explain = explain or bool(_BEGINNER.search(text))
    compared = _compared(text) if _DIFFERENCE.search(text) else ()
    kind = _kind(text, compared, placement)
    if explain and kind in ("frequency", "ratio", "time", "level", "distance"):
        # "What does K-weighting do to a LUFS reading?" asks what it is, not a value.
        kind = "general"
    if kind == "diagnosis":
        compared = ()  # a symptom "compared to" something is not two things set side by side
    if placement:
        aspects |= {"before", "after", "order"}
    relative = kind == "level" and bool(_RELATIVE.search(text))
    absolute = bool(_ABSOLUTE.search(text)) and not relative
    return Intent(kind, aspects, compared, explain, placement, absolute, relative)


_ASKS_NUMBERS = re.compile(
    r"\b(?:settings?|values?|how much|how many|what (?:ratio|frequency))\b", _FLAGS
)


def _kind(text: str, compared: tuple[frozenset[str], ...], placement: bool) -> str:
    # "Why does my song sound quiet compared to ...?", "my mix sounds dull compared to
    # commercial songs": a symptom measured against something, not two things compared;
    # "how loud compared to the lead?" asks for a level against it.
    weak = not _NAMED_DIFFERENCE.search(text)
    measured = bool(_DIAGNOSIS.search(text)) and (bool(_WHY.match(text)) or weak)
    measured = measured or (weak and bool(_QUANTITY_PHRASES.search(text)))
    if placement or (
        compared and _DIFFERENCE.search(text) and not _or_of_values(text) and not measured
    ):
        return "difference"
    asks = bool(_ASKS_QUANTITY.search(text)) or bool(re.search(r"\d", text))
    if asks:
        for kind, pattern in _QUANTITY_KINDS:
            if pattern.search(text):
                return kind
    if _DIAGNOSIS.search(text):
        return "diagnosis"
    if _YES_NO.search(text):
        return "yes_no"
    if _STEPS.search(text):
        return "steps"
    for kind, pattern in _QUANTITY_KINDS:
        if pattern.search(text):
            return kind
    return "general"


def _or_of_values(text: str) -> bool:
    # "12 or 24 dB/oct?", "-3 or -6 dB?": a choice between values is a quantity question.
    return bool(re.search(r"\d\s*(?:\w+\s*)?\bor\b\s*[-+]?\d", text))


def _compared(text: str) -> tuple[frozenset[str], ...]:
    match = _BETWEEN.search(text)
    if match is None:
        return ()
    first = match.group("a") or match.group("c") or match.group("e") or match.group("g") or ""
    second = match.group("b") or match.group("d") or match.group("f") or match.group("h") or ""
    # Units say nothing about which side is which ("-3 or -6 dB?").
    groups = tuple(frozenset(tokenize(part)) - _UNIT_TERMS for part in (first, second))
    return groups if all(groups) else ()


_UNIT_TERMS = frozenset(tokenize("db hz khz ms oct"))


_INTENT_LINES = {
    "frequency": re.compile(r"\d\s*k?hz\b", _FLAGS),
    "ratio": re.compile(r"\d\s*:\s*1\b", _FLAGS),
    "time": re.compile(
        r"\d\s*(?:ms|s|min|mins|minutes?|hours?)\b|\b1/\d+\b"
        r"|\b(?:half|whole|quarter|eighth|sixteenth)[- ]notes?\b",
        _FLAGS,
    ),
    "level": re.compile(r"\d\s*(?:db|dbfs|dbtp|lufs|lkfs|lu)(?![a-z/])", _FLAGS),
    "distance": re.compile(r"\d\s*(?:cm|mm|m|metres?|meters?|inch(?:es)?|feet|ft)\b", _FLAGS),
}
_PERCENT = re.compile(r"\d\s*%")


def intent_values(line: str, kind: str, *, percent: bool = False) -> int:
    """How many values of the kind the intent asks for (Hz, ratio, ms, dB) ``line`` holds.

    ``percent``: a level question about a setting given in percent (feedback, wet/dry).
    """
    pattern = _INTENT_LINES.get(kind)
    count = len(pattern.findall(line)) if pattern else 0
    if percent and kind == "level":
        count += len(_PERCENT.findall(line))
    return count
