"""The twelve perspectives and how each one works the facts of an answer.

Every answer opens the same way: the fact the question asked for (see
:mod:`~codette_desktop.engine.compose`). What follows is the perspective's own working of
the same facts, from the same :class:`Material`: cause and effect of each move for
``newtonian_logic``, options that fit the question for ``quantum_logic``, arithmetic with
the question's own numbers for ``mathematical_rigor``, numbered DAW steps for
``copilot_developer``, the perception story for ``psychological``, and so on. Renderers
draw wording choices from the ``rng`` they are given so repeated questions read
differently; they never drop the facts they are given.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from codette_desktop.domain.perspectives import (  # noqa: F401 (the engine's names for them)
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    validate_perspective,
)
from codette_desktop.engine.knowledge import KnowledgeEntry
from codette_desktop.engine.wording import first_sentence, lower_first, sentence

# How each perspective works the facts, told to a local model (and true of the renderers).
INSTRUCTIONS: Mapping[str, str] = MappingProxyType(
    {
        "mix_engineering": "Answer as a mix engineer: the setting asked for first, then the "
        "order of the other moves, in plain studio language.",
        "newtonian_logic": "Explain each move as cause and effect: what it does to the signal "
        "and what the listener hears as a result.",
        "davinci_synthesis": "Connect the technique to an idea from painting, architecture or "
        "physics, then give the concrete values.",
        "human_intuition": "Start from listening: what to listen for and how it should feel; "
        "give the values as starting points, not rules.",
        "neural_network": "Weigh the factors that matter most for this question, strongest "
        "first, and say which neighbouring topics also apply.",
        "quantum_logic": "Lay out two or three approaches that fit the question, what each "
        "trades off, and how to choose between them by listening.",
        "resilient_kindness": "Be encouraging and patient: one small first step with its value, "
        "then the next one.",
        "mathematical_rigor": "Work the numbers explicitly (dB arithmetic, ratios, tempo maths) "
        "with the numbers from the question and the DAW context, not example values.",
        "philosophical": "Start from the intent behind the technique and why it serves the "
        "song, then give the how.",
        "copilot_developer": "Give numbered, concrete steps to carry out in the DAW, in order.",
        "bias_mitigation": "Name the common myths and mistakes, and insist on a level-matched "
        "A/B comparison before deciding.",
        "psychological": "Explain how the ear perceives this (psychoacoustics) and why the "
        "move works on a listener.",
    }
)




@dataclass(frozen=True)
class Material:
    """What a perspective works with: one entry and the facts chosen for this question.

    ``key`` holds the line(s) with the asked-for fact (the answer's opening already says
    them); ``guidance`` the secondary lines chosen for this answer, best first;
    ``alternatives`` other approaches that fit the question (from this entry or a close
    neighbour); ``math_lines`` arithmetic with the question's and the DAW's numbers;
    ``steps_before`` DAW actions the context calls for (pull a clipping track down).
    ``own_units`` are the units the question gave numbers in ("bpm", "lufs"), so an
    entry's worked example in another tempo or loudness is left out.
    """

    entry: KnowledgeEntry
    score: float
    key: tuple[str, ...]
    guidance: tuple[str, ...]
    related: tuple[tuple[KnowledgeEntry, float], ...]
    subject: str  # "your 'Lead Vox' (vocal) track" or "your track"
    math_lines: tuple[str, ...]
    steps_before: tuple[str, ...]
    intent: str = "general"
    cause: str | None = None  # the usual cause of the symptom the question describes
    alternatives: tuple[str, ...] = ()
    own_units: frozenset[str] = frozenset()


# Category -> what the move does, for cause -> effect phrasing.
_EFFECTS: Mapping[str, str] = MappingProxyType(
    {
        "eq": "shifts the tonal balance and what the track masks",
        "compression": "narrows the dynamic range, so level and density change together",
        "reverb": "pushes the source back in space and lengthens its tail",
        "delay": "adds repeats that widen and deepen the source in time",
        "loudness": "changes perceived loudness and the headroom left",
        "mastering": "changes the whole mix's loudness, tone and translation",
        "gain_staging": "moves every later plugin's operating point",
        "stereo": "changes width and how the mix folds down to mono",
        "saturation": "adds harmonics the ear reads as warmth, density or edge",
        "dynamics": "reshapes transients and sustain",
        "low_end": "changes how kick and bass share the bottom octave",
    }
)

# Category -> an idea from another discipline that explains the same thing.
_ANALOGIES: Mapping[str, str] = MappingProxyType(
    {
        "eq": "a painter's palette: you don't make a colour stand out by adding more paint, "
        "you remove the competing colours around it",
        "compression": "a sculptor's rasp: it evens the surface without changing the form, "
        "and too much erases the chisel marks that gave it life",
        "reverb": "architecture: every room is an instrument, and the wall you choose decides "
        "how near the listener stands",
        "delay": "rhythm in architecture — repeated columns that set the pace of a facade",
        "loudness": "a photograph's exposure: push it too far and the highlights clip to white",
        "mastering": "varnishing a painting: it unifies the surface but cannot fix the drawing",
        "stereo": "perspective drawing: depth and width come from contrast, not from "
        "making everything wide",
        "saturation": "the grain of film: a little texture makes an image feel real",
        "low_end": "a building's foundation: one solid footing, not two competing ones",
    }
)

_FEEL_QUESTIONS: Mapping[str, str] = MappingProxyType(
    {
        "eq": "does it feel buried, boxy or harsh?",
        "compression": "does it feel steady and close, or does it jump out and fall away?",
        "reverb": "does it feel like it lives in the same room as everything else?",
        "delay": "does the space move with the groove or smear it?",
        "loudness": "does it feel powerful at a normal listening level, or just tiring?",
        "mastering": "does it feel finished on small speakers and in the car?",
        "low_end": "do you feel the kick in your chest and still hear the bass notes?",
    }
)


def _key(entry: KnowledgeEntry) -> str:
    return entry.category.lower().replace("-", "_").replace(" ", "_")


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


def _mix_engineering(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines: list[str] = []
    if m.intent in ("general", "steps", "diagnosis") and e.summary not in m.key:
        lines.append(e.summary)
    if m.guidance:
        lead = _pick(rng, ("Then:", "Next:", "From there:", "After that:", "Alongside it:"))
        lines.append(f"{lead} {' '.join(sentence(g) for g in m.guidance)}")
    if e.pitfalls and rng.random() < 0.5:
        lines.append(f"Watch out for: {sentence(lower_first(rng.choice(e.pitfalls)))}")
    return "\n".join(lines)


# Action words in a guidance line -> what that move does, for cause -> effect phrasing.
_MOVE_EFFECTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), effect)
    for pattern, effect in (
        (r"\bpre-?delay\b", "the dry onset stays clear of the reverb, so the source stays close"),
        (r"\bdecay\b|\btail\b", "sets how long the space hangs over the next note"),
        (
            r"\bhigh-?pass\w*|\blow cut\b",
            "energy below the cutoff is removed, so the low end clears",
        ),
        (r"\blow-?pass\w*", "the top above the cutoff is softened, so the part sits further back"),
        (r"\battack\b", "decides how much of each transient passes before the gain comes down"),
        (r"\brelease\b", "decides how fast the gain recovers, and so whether it pumps"),
        (r"\d\s*:\s*1|\bratio\b|\bthreshold\b", "sets how hard the loud parts are pulled back"),
        (r"\bsidechain\w*|\bduck\w*|\bkeyed\b", "makes room only while the key signal plays"),
        (r"\bpolarity\b|\balign\w*|\bnudge\b", "the mics add up instead of cancelling"),
        (r"\bfeedback\b", "sets how many repeats follow and how long they last"),
        (
            r"\bpan\w*\b|\bwidth\b|\bwide\b",
            "moves the part in the stereo image, away from what masks it",
        ),
        (
            r"\bsaturat\w*|\bdrive\b|\bharmonics?\b|\bdistort\w*",
            "adds harmonics the ear reads as density and presence",
        ),
        (
            r"\blufs\b|\bdbtp\b|\bceiling\b|\blimit\w*",
            "sets the loudness and the peak headroom left",
        ),
        (r"\bcut\b|\bdip\b|\bnotch\b", "that band drops, so what it was masking comes forward"),
        (r"\bboost\b|\bshelf\b|\blift\b", "that band rises, so the part reads louder and closer"),
        (
            r"\bgain reduction\b|\bgr\b|\bcompress\w*",
            "the dynamic range narrows, so level and density change together",
        ),
    )
)


def _effect_of(line: str, category: str) -> str:
    for pattern, effect in _MOVE_EFFECTS:
        if pattern.search(line):
            return effect
    return _EFFECTS.get(category, "changes how the track sits against everything else")


def _newtonian_logic(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "Cause and effect, one force at a time:",
                "Treat it like mechanics: every move is a cause with a measurable effect.",
                "Think in causes and effects:",
            ),
        )
    ]
    if m.cause:
        lines.append(f"- What you hear is the effect; the usual cause is {m.cause}.")
    lines.append(f"- The mechanism: {first_sentence(e.perception)}")
    for move in (*m.key, *m.guidance)[:3]:
        lines.append(f"- Cause: {sentence(move)} → effect: {_effect_of(move, _key(e))}.")
    lines.append(
        _pick(
            rng,
            (
                "Change one variable at a time so each effect has exactly one cause.",
                "Move one control, observe, then move the next — otherwise you can't tell which "
                "cause produced which effect.",
            ),
        )
    )
    return "\n".join(lines)


def _davinci_synthesis(m: Material, rng: random.Random) -> str:
    e = m.entry
    analogy = _ANALOGIES.get(
        _key(e), "drawing from life: observe first, then simplify to the lines that matter"
    )
    lines = [
        _pick(
            rng,
            (
                f"Across disciplines, {lower_first(e.title)} is like {analogy}.",
                f"Art and science meet here. Think of {analogy}.",
                f"A painter would recognise this problem — it's {analogy}.",
            ),
        ),
        f"The science: {first_sentence(e.perception)}",
    ]
    if m.guidance:
        lines.append(f"The craft: {' '.join(sentence(g) for g in m.guidance)}")
    lines.append(
        _pick(
            rng,
            (
                "Sketch broadly first, then refine the details, the way a study becomes "
                "a painting.",
                "Art and science together: the physics tells you where to look, your taste decides "
                "how far to go.",
            ),
        )
    )
    return "\n".join(lines)


def _human_intuition(m: Material, rng: random.Random) -> str:
    e = m.entry
    question = _FEEL_QUESTIONS.get(_key(e), "what feels wrong before you know why?")
    lines = [
        _pick(
            rng,
            (
                f"Listen first. Play the part where {m.subject} bothers you and ask: {question}",
                f"Before you touch a plugin, loop the busiest section — {question}",
                f"A feel check on {m.subject} before any numbers: {question}",
            ),
        )
    ]
    if m.guidance:
        lines.append(
            f"If that feeling points to {lower_first(e.title)}, these are good starting points: "
            f"{' '.join(sentence(g) for g in m.guidance)}"
        )
    lines.append(
        _pick(
            rng,
            (
                "Then close your eyes and listen again; if it feels better without soloing, "
                "keep it.",
                "Trust the feel over the meter — the values are a place to start, not a rule.",
                "Walk away for a minute and come back; your first impression after a break "
                "is honest.",
            ),
        )
    )
    return "\n".join(lines)


def _neural_network(m: Material, rng: random.Random) -> str:
    e = m.entry
    factors = list(m.guidance) or list(m.key)
    factors += [first_sentence(r.summary) for r, _ in m.related[: max(0, 2 - len(factors))]]
    # Weights fall off with rank (1/rank, normalised) — the first factors carry most signal.
    raw = [1.0 / (i + 1) for i in range(len(factors))]
    weights = [w / sum(raw) for w in raw]
    lines = [
        _pick(
            rng,
            (
                f"Pattern match: your question fits '{e.title}' (match score {m.score:.2f}).",
                f"Strongest pattern in what I know: '{e.title}' (score {m.score:.2f}).",
            ),
        ),
        "Weighted factors beyond the answer above, strongest first:",
    ]
    lines += [f"- {sentence(g)} (weight {w:.2f})" for g, w in zip(factors, weights, strict=True)]
    if m.related:
        near = ", ".join(f"'{r.title}' ({s:.2f})" for r, s in m.related[:2])
        lines.append(f"Nearby patterns that also fired: {near}.")
    return "\n".join(lines)


def _quantum_logic(m: Material, rng: random.Random) -> str:
    options = list(m.alternatives[:2]) or list(m.guidance[:2])
    letters = "BC"
    lines = [
        _pick(
            rng,
            (
                "That answer is one state; the mix only settles on one when you listen.",
                "There isn't one answer yet — there are a few possible states, each valid.",
                "Keep the options in superposition for a moment and weigh them.",
            ),
        ),
        "Option A is the answer above.",
    ]
    lines += [f"Option {letters[i]}: {sentence(o)}" for i, o in enumerate(options)]
    lines.append(
        _pick(
            rng,
            (
                "Option A is the safest state; the others trade safety for character. Try each "
                "for eight bars and keep the one that survives the full mix.",
                "Weigh them against the song: audition each option in context, then commit.",
            ),
        )
    )
    return "\n".join(lines)


def _resilient_kindness(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "That one move is enough to start with; plenty of experienced engineers still "
                f"wrestle with {lower_first(e.title)}, so you're in good company.",
                "You're asking exactly the right thing, and you're closer than you think.",
                f"It's completely normal to wrestle with {lower_first(e.title)}; everyone does.",
            ),
        )
    ]
    if m.guidance:
        rest = " ".join(sentence(g) for g in m.guidance)
        lines.append(f"When that feels right, take the next step: {rest}")
    lines.append(
        _pick(
            rng,
            (
                "If it doesn't click right away, that's part of learning — you've got this.",
                "Every mix you finish makes the next one easier. You've got this.",
                "Be patient with your ears and with yourself; progress counts more than "
                "perfection.",
            ),
        )
    )
    return "\n".join(lines)


def _philosophical(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "Now the why: what should this part make the listener feel?",
                "Behind the how there is a why — what is the intent of this sound in the song?",
                "Technique only matters in service of an intent.",
            ),
        ),
        f"The intent behind {lower_first(e.title)}: {e.summary}",
        f"Why it works: {first_sentence(e.perception)}",
    ]
    if m.guidance:
        lines.append(f"The how follows from the why: {' '.join(sentence(g) for g in m.guidance)}")
    lines.append(
        _pick(
            rng,
            (
                "The song decides; the technique serves it.",
                "If a move doesn't serve the intent, it's decoration, however clever.",
            ),
        )
    )
    return "\n".join(lines)


# An entry's worked example is left out when the question brings its own value of that kind.
_EXAMPLE_UNITS = {
    "bpm": re.compile(r"\bbpm\b", re.IGNORECASE),
    "lufs": re.compile(r"\blufs\b", re.IGNORECASE),
}
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _entry_math(m: Material) -> str:
    sentences = _SENTENCES.split(m.entry.math)
    kept = [
        s
        for s in sentences
        if not any(
            unit in m.own_units and pattern.search(s) for unit, pattern in _EXAMPLE_UNITS.items()
        )
    ]
    return " ".join(kept)


def _mathematical_rigor(m: Material, rng: random.Random) -> str:
    lines = [
        _pick(
            rng,
            (
                "Let's work the numbers.",
                "The arithmetic, then the judgement:",
                "Numbers make this precise:",
            ),
        )
    ]
    lines += list(m.math_lines)
    entry_math = _entry_math(m)
    if entry_math:
        lines.append(f"The numbers behind the guidance: {entry_math}")
    if not m.math_lines:
        lines.append(
            "Reference points: +6.02 dB doubles amplitude (20 × log10 2 = 6.02), and about "
            "+10 dB is heard as twice as loud."
        )
    numeric = [g for g in m.guidance if any(ch.isdigit() for ch in g)]
    if numeric:
        lines.append(f"Other starting values: {' '.join(sentence(g) for g in numeric)}")
    return "\n".join(lines)


def _psychological(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "This is as much about perception as about signal.",
                "How we hear it explains why that works.",
                "Start with the ear, not the meter.",
            ),
        ),
        f"Perceptually: {e.perception}",
    ]
    if m.guidance:
        lines.append(
            f"That's why the usual moves work: {' '.join(sentence(g) for g in m.guidance)}"
        )
    lines.append(
        _pick(
            rng,
            (
                "Your ears adapt within minutes, so take short breaks and judge fresh.",
                "Listening fatigue sets in fast at high levels; check decisions at a moderate "
                "volume.",
            ),
        )
    )
    return "\n".join(lines)


def _bias_mitigation(m: Material, rng: random.Random) -> str:
    e = m.entry
    pitfalls = list(e.pitfalls)
    rng.shuffle(pitfalls)
    lines = [
        _pick(
            rng,
            (
                "Now the assumptions worth checking.",
                "The myths and traps that catch most people here:",
                "Some common beliefs here don't survive a blind test.",
            ),
        )
    ]
    if pitfalls:
        lines.append(f"Common mistake or myth: {sentence(pitfalls[0])}")
        if len(pitfalls) > 1:
            lines.append(f"Also watch for: {sentence(pitfalls[1])}")
    else:
        lines.append(f"The bias to watch: judging {lower_first(e.title)} on looks, not sound.")
    if m.guidance:
        lines.append(f"What holds up: {' '.join(sentence(g) for g in m.guidance)}")
    lines.append(
        "Check it by ear with a level-matched A/B: match loudness within about 0.5 dB before "
        "comparing, because the louder version almost always sounds 'better'."
    )
    return "\n".join(lines)


def _copilot_developer(m: Material, rng: random.Random) -> str:
    e = m.entry
    steps = list(m.steps_before) + list(e.steps or (*m.key, *m.guidance))
    steps.append(
        _pick(
            rng,
            (
                "Bypass the chain, level-match, and compare before you commit.",
                "Save a version (or snapshot) so you can roll back, then A/B against it.",
                "Play the chorus with everything in and confirm it still sits.",
            ),
        )
    )
    header = _pick(
        rng,
        (
            f"Step by step for {m.subject}:",
            f"Here's the workflow in your DAW ({e.title}):",
            "Do this in order:",
        ),
    )
    numbered = [f"{i}. {sentence(step)}" for i, step in enumerate(steps, start=1)]
    return "\n".join([header, *numbered])


_RENDERERS: Mapping[str, Callable[[Material, random.Random], str]] = MappingProxyType(
    {
        "mix_engineering": _mix_engineering,
        "newtonian_logic": _newtonian_logic,
        "davinci_synthesis": _davinci_synthesis,
        "human_intuition": _human_intuition,
        "neural_network": _neural_network,
        "quantum_logic": _quantum_logic,
        "resilient_kindness": _resilient_kindness,
        "mathematical_rigor": _mathematical_rigor,
        "philosophical": _philosophical,
        "copilot_developer": _copilot_developer,
        "bias_mitigation": _bias_mitigation,
        "psychological": _psychological,
    }
)


def render(perspective: str, material: Material, rng: random.Random) -> str:
    """The perspective's working of the facts, which follows the answer's opening."""
    return _RENDERERS[perspective](material, rng)
