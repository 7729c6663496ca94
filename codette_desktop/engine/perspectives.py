"""The twelve perspectives and how each one shapes an answer.

A perspective is a way of telling the same knowledge: every renderer here takes the same
:class:`Material` (one knowledge entry, a chosen subset of its guidance, numbers from the
DAW context) and builds a visibly different body from it — numbered DAW steps for
``copilot_developer``, worked arithmetic for ``mathematical_rigor``, the perception story
for ``psychological``, and so on. Renderers draw wording choices from the ``rng`` they are
given so repeated questions read differently.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from codette_desktop.domain.perspectives import (  # noqa: F401 (the engine's names for them)
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    validate_perspective,
)
from codette_desktop.engine.knowledge import KnowledgeEntry


@dataclass(frozen=True)
class Material:
    """What a perspective renders: one entry plus facts about the user's session.

    ``guidance`` is the subset of ``entry.guidance`` chosen for this answer (already in
    the order to tell it); ``math_lines`` are computed from the DAW context and
    ``steps_before`` are DAW actions the context calls for (e.g. pull a clipping track down).
    """

    entry: KnowledgeEntry
    score: float
    guidance: tuple[str, ...]
    related: tuple[tuple[KnowledgeEntry, float], ...]
    subject: str  # "your 'Lead Vox' (vocal) track" or "the track"
    math_lines: tuple[str, ...]
    steps_before: tuple[str, ...]


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


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", ":")) else f"{text}."


def _lower_first(text: str) -> str:
    # Keep acronyms ("EQ", "LUFS") intact; only lower a capitalised ordinary word.
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _first_sentence(text: str) -> str:
    for mark in (". ", "! ", "? "):
        index = text.find(mark)
        if index > 0:
            return text[: index + 1]
    return _sentence(text)


def _key(entry: KnowledgeEntry) -> str:
    return entry.category.lower().replace("-", "_").replace(" ", "_")


def _pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


def _mix_engineering(m: Material, rng: random.Random) -> str:
    e = m.entry
    opening = _pick(
        rng,
        (
            f"Here's how I'd handle {_lower_first(e.title)} on {m.subject}.",
            "Straight to the session:",
            f"Engineer's notes — {e.title}:",
            "What I'd do, in order:",
            f"The practical version for {m.subject}:",
        ),
    )
    lines = [opening, e.summary, " ".join(_sentence(g) for g in m.guidance)]
    if e.pitfalls and rng.random() < 0.5:
        lines.append(f"Watch out for: {_sentence(_lower_first(rng.choice(e.pitfalls)))}")
    return "\n".join(lines)


def _newtonian_logic(m: Material, rng: random.Random) -> str:
    e = m.entry
    effect = _EFFECTS.get(_key(e), "changes how the track sits against everything else")
    opening = _pick(
        rng,
        (
            "Cause and effect, one force at a time.",
            "Treat it like mechanics: every move is a cause with a measurable effect.",
            "Think in causes and effects.",
        ),
    )
    lines = [opening, f"The system: {_first_sentence(e.summary)}"]
    lines += [f"- Cause: {_sentence(g)} → effect: it {effect}." for g in m.guidance]
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
                f"Across disciplines, {_lower_first(e.title)} is like {analogy}.",
                f"Art and science meet here. Think of {analogy}.",
                f"A painter would recognise this problem — it's {analogy}.",
            ),
        ),
        f"The science: {_first_sentence(e.perception)}",
        f"The craft: {' '.join(_sentence(g) for g in m.guidance)}",
        _pick(
            rng,
            (
                "Sketch broadly first, then refine the details, the way a study becomes "
                "a painting.",
                "Art and science together: the physics tells you where to look, your taste decides "
                "how far to go.",
            ),
        ),
    ]
    return "\n".join(lines)


def _human_intuition(m: Material, rng: random.Random) -> str:
    e = m.entry
    question = _FEEL_QUESTIONS.get(_key(e), "what feels wrong before you know why?")
    lines = [
        _pick(
            rng,
            (
                f"Listen first. Play the part where {m.subject} bothers you and ask: {question}",
                f"Start with your ears, not a plugin. Loop the busiest section — {question}",
                f"Before any numbers, a feel check on {m.subject}: {question}",
            ),
        ),
        f"If that feeling points to {_lower_first(e.title)}, these are good starting points:",
        " ".join(_sentence(g) for g in m.guidance),
        _pick(
            rng,
            (
                "Then close your eyes and listen again; if it feels better without soloing, "
                "keep it.",
                "Trust the feel over the meter — the values are a place to start, not a rule.",
                "Walk away for a minute and come back; your first impression after a break "
                "is honest.",
            ),
        ),
    ]
    return "\n".join(lines)


def _neural_network(m: Material, rng: random.Random) -> str:
    e = m.entry
    # Weights fall off with rank (1/rank, normalised) — the first factors carry most signal.
    raw = [1.0 / (i + 1) for i in range(len(m.guidance))]
    weights = [w / sum(raw) for w in raw]
    lines = [
        _pick(
            rng,
            (
                f"Pattern match: your question fits '{e.title}' (match score {m.score:.2f}).",
                f"Strongest pattern in what I know: '{e.title}' (score {m.score:.2f}).",
            ),
        ),
        "Weighted factors, strongest first:",
    ]
    lines += [
        f"- {_sentence(g)} (weight {w:.2f})" for g, w in zip(m.guidance, weights, strict=True)
    ]
    if m.related:
        near = ", ".join(f"'{r.title}' ({s:.2f})" for r, s in m.related[:2])
        lines.append(f"Nearby patterns that also fired: {near}.")
    return "\n".join(lines)


def _quantum_logic(m: Material, rng: random.Random) -> str:
    e = m.entry
    options = list(m.guidance[:2])
    if m.related:
        options.append(_first_sentence(m.related[0][0].summary))
    elif len(e.guidance) > len(m.guidance):
        options.append(e.guidance[-1])
    letters = "ABC"
    lines = [
        _pick(
            rng,
            (
                "Several states are possible here; the mix only settles on one when you listen.",
                "There isn't one answer yet — there are a few possible states, each valid.",
                "Keep the options in superposition for a moment and weigh them.",
            ),
        )
    ]
    lines += [f"Option {letters[i]}: {_sentence(o)}" for i, o in enumerate(options)]
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
                f"Good question — {_lower_first(e.title)} trips up plenty of experienced "
                "engineers, so you're in good company.",
                "You're asking exactly the right thing, and you're closer than you think.",
                f"It's completely normal to wrestle with {_lower_first(e.title)}; everyone does.",
            ),
        ),
        e.summary,
        f"Start with one small move: {_sentence(m.guidance[0])}",
    ]
    if len(m.guidance) > 1:
        rest = " ".join(_sentence(g) for g in m.guidance[1:])
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
                "Start with the why: what should this part make the listener feel?",
                "Before the how, ask why — what is the intent of this sound in the song?",
                "Technique only matters in service of an intent, so begin there.",
            ),
        ),
        f"The intent behind {_lower_first(e.title)}: {e.summary}",
        f"Why it works: {_first_sentence(e.perception)}",
        f"The how follows from the why: {' '.join(_sentence(g) for g in m.guidance)}",
        _pick(
            rng,
            (
                "The song decides; the technique serves it.",
                "If a move doesn't serve the intent, it's decoration, however clever.",
            ),
        ),
    ]
    return "\n".join(lines)


def _mathematical_rigor(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "Let's work the numbers.",
                "The arithmetic first, then the judgement.",
                "Numbers make this precise.",
            ),
        ),
        f"The numbers: {e.math}",
    ]
    lines += list(m.math_lines)
    if not m.math_lines:
        lines.append(
            "Reference points: +6.02 dB doubles amplitude (20 × log10 2 = 6.02), and about "
            "+10 dB is heard as twice as loud."
        )
    numeric = [g for g in m.guidance if any(ch.isdigit() for ch in g)] or list(m.guidance)
    lines.append(f"Starting values: {' '.join(_sentence(g) for g in numeric)}")
    return "\n".join(lines)


def _psychological(m: Material, rng: random.Random) -> str:
    e = m.entry
    lines = [
        _pick(
            rng,
            (
                "This is as much about perception as about signal.",
                "How we hear it explains what to do.",
                "Start with the ear, not the meter.",
            ),
        ),
        f"Perceptually: {e.perception}",
        f"That's why the usual moves work: {' '.join(_sentence(g) for g in m.guidance)}",
        _pick(
            rng,
            (
                "Your ears adapt within minutes, so take short breaks and judge fresh.",
                "Listening fatigue sets in fast at high levels; check decisions at a moderate "
                "volume.",
            ),
        ),
    ]
    return "\n".join(lines)


def _bias_mitigation(m: Material, rng: random.Random) -> str:
    e = m.entry
    pitfalls = list(e.pitfalls)
    rng.shuffle(pitfalls)
    lines = [
        _pick(
            rng,
            (
                "Let's check the assumptions before the settings.",
                "First, the myths and traps that catch most people here.",
                "Some common beliefs here don't survive a blind test.",
            ),
        )
    ]
    if pitfalls:
        lines.append(f"Common mistake or myth: {_sentence(pitfalls[0])}")
        if len(pitfalls) > 1:
            lines.append(f"Also watch for: {_sentence(pitfalls[1])}")
    else:
        lines.append(f"The bias to watch: judging {_lower_first(e.title)} on looks, not sound.")
    lines.append(f"What holds up: {' '.join(_sentence(g) for g in m.guidance)}")
    lines.append(
        "Check it by ear with a level-matched A/B: match loudness within about 0.5 dB before "
        "comparing, because the louder version almost always sounds 'better'."
    )
    return "\n".join(lines)


def _copilot_developer(m: Material, rng: random.Random) -> str:
    e = m.entry
    steps = list(m.steps_before) + list(e.steps or m.guidance)
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
    numbered = [f"{i}. {_sentence(step)}" for i, step in enumerate(steps, start=1)]
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
    """The body of an answer in ``perspective`` (a validated name)."""
    return _RENDERERS[perspective](material, rng)
