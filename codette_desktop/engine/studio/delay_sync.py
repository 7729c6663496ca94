"""Tempo-synced note lengths for delays, pre-delays and LFOs.

Serves ``GET /api/analysis/delay-sync?bpm=N``. A quarter note lasts 60000 / BPM ms; a
dotted note is 1.5 times its plain value and a triplet 2/3 of it (three in the time of
two). The frontend prints every value with ``.toFixed(2)``, so they are plain numbers.
"""

from __future__ import annotations

import math

from codette_desktop.errors import ProtocolError

MIN_BPM = 20.0
MAX_BPM = 999.0

# (name as the DAW shows it, DAW notation, length in quarter-note beats), longest first.
# The names follow the frontend's own labels (Whole, Half, Quarter, Eighth, Sixteenth).
_STRAIGHT: tuple[tuple[str, str, float], ...] = (
    ("Whole", "1/1", 4.0),
    ("Half", "1/2", 2.0),
    ("Quarter", "1/4", 1.0),
    ("Eighth", "1/8", 0.5),
    ("Sixteenth", "1/16", 0.25),
    ("Thirty-second", "1/32", 0.125),
)
DOTTED = 1.5
TRIPLET = 2.0 / 3.0


def _note_values() -> tuple[tuple[str, str, float], ...]:
    # Straight values first: the Codette panel shows only the first five entries.
    dotted = tuple((f"Dotted {n.lower()}", f"{s}D", b * DOTTED) for n, s, b in _STRAIGHT)
    triplet = tuple((f"{n} triplet", f"{s}T", b * TRIPLET) for n, s, b in _STRAIGHT)
    return _STRAIGHT + dotted + triplet


NOTE_VALUES = _note_values()


def parse_bpm(bpm: float | str) -> float:
    """``bpm`` as a float in 20..999, from a number or a query-string value.

    Raises ProtocolError("invalid_field", field="bpm") otherwise.
    """
    value: float | None = None
    if isinstance(bpm, str):
        try:
            value = float(bpm.strip())
        except ValueError:
            value = None
    elif isinstance(bpm, int | float) and not isinstance(bpm, bool):
        value = float(bpm)
    if value is None or not math.isfinite(value) or not MIN_BPM <= value <= MAX_BPM:
        raise ProtocolError(
            "invalid_field",
            f"bpm must be a number from {MIN_BPM:g} to {MAX_BPM:g}, got {bpm!r}",
            field="bpm",
        )
    return value


def divisions(bpm: float | str) -> dict[str, object]:
    """Note lengths in milliseconds at ``bpm``. Serves ``GET /api/analysis/delay-sync?bpm=N``.

    ``bpm``: beats (quarter notes) per minute, 20..999, a number or its query string.

    Returns ``{"bpm", "divisions": {name: ms}, "notes": [{name, notation, beats, ms, hz}]}``:
    ``divisions`` is what the frontend reads (straight values 1/1..1/32, then dotted,
    then triplets); ``notes`` repeats them with DAW notation (``1/8D``, ``1/8T``), the
    length in quarter-note beats and the rate in Hz for LFOs. ms are rounded to 0.001.
    """
    tempo = parse_bpm(bpm)
    quarter_ms = 60000.0 / tempo
    notes = []
    for name, notation, beats in NOTE_VALUES:
        ms = quarter_ms * beats
        notes.append(
            {
                "name": name,
                "notation": notation,
                "beats": round(beats, 6),
                "ms": round(ms, 3),
                "hz": round(1000.0 / ms, 4),
            }
        )
    return {
        "bpm": tempo,
        "divisions": {str(note["name"]): note["ms"] for note in notes},
        "notes": notes,
    }
