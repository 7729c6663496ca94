"""The twelve perspectives a chat answer can take: names, descriptions, validation.

The engine decides how each one shapes an answer; this is the list clients choose from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from codette_desktop.errors import ProtocolError

DEFAULT_PERSPECTIVE = "mix_engineering"

PERSPECTIVES: Mapping[str, str] = MappingProxyType(
    {
        "mix_engineering": "Direct, concrete advice from a mix engineer: settings, values, order.",
        "newtonian_logic": "Cause and effect: what each move does to the signal and why.",
        "davinci_synthesis": "Connects mixing to painting, architecture and physics.",
        "human_intuition": "Listening and feel first, numbers second.",
        "neural_network": "Pattern matching: weighs the factors that usually matter most.",
        "quantum_logic": "Lays out several possible approaches and weighs them.",
        "resilient_kindness": "Encouraging and patient; small steps that build confidence.",
        "mathematical_rigor": "Works the numbers: dB arithmetic, ratios, tempo maths.",
        "philosophical": "Starts from the why: the intent behind a technique.",
        "copilot_developer": "Numbered step-by-step instructions for your DAW.",
        "bias_mitigation": "Names myths and pitfalls; insists on level-matched A/B checks.",
        "psychological": "Explains how we perceive sound (psychoacoustics) and why it matters.",
    }
)


def validate_perspective(name: object) -> str:
    """Return the canonical perspective name, or raise ProtocolError("invalid_field").

    ``None`` means "not given" and yields the default. Case, spaces and hyphens are
    forgiven ("Mix Engineering" -> ``mix_engineering``).
    """
    if name is None:
        return DEFAULT_PERSPECTIVE
    if isinstance(name, str):
        key = name.strip().lower().replace("-", "_").replace(" ", "_")
        if key in PERSPECTIVES:
            return key
    shown = name if isinstance(name, str) else repr(name)
    raise ProtocolError(
        "invalid_field",
        f"Unknown perspective '{shown}'. Valid perspectives: {', '.join(PERSPECTIVES)}",
        field="perspective",
    )
