"""Note names to frequencies in twelve-tone equal temperament.

A4 = 440 Hz is the standard tuning reference (ISO 16:1975); each semitone is a factor
of 2^(1/12). Octave numbers follow scientific pitch notation (C4 is middle C), so
``note_hz("E1") ≈ 41.20`` (a bass guitar's low string) and ``note_hz("C8") ≈ 4186``.
"""

from __future__ import annotations

import re

A4_HZ = 440.0
_A4_MIDI = 69
_NOTE = re.compile(r"^([A-Ga-g])([#♯b♭]?)(-?\d)$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def midi_number(note: str) -> int:
    """The MIDI note number of ``note`` ("C4" -> 60, "F#3" -> 54, "Bb0" -> 22)."""
    match = _NOTE.match(note.strip())
    if match is None:
        raise ValueError(f"not a note name: {note!r} (expected e.g. 'E2', 'F#3', 'Bb0')")
    letter, accidental, octave = match.groups()
    shift = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    return 12 * (int(octave) + 1) + _PITCH_CLASS[letter.upper()] + shift


def note_hz(note: str) -> float:
    """The frequency of ``note`` in Hz ("A4" -> 440.0)."""
    return A4_HZ * 2.0 ** ((midi_number(note) - _A4_MIDI) / 12.0)


def _figure(hz: float) -> tuple[str, str]:
    if hz >= 1000.0:
        return f"{hz / 1000.0:.3g}", "kHz"
    return (f"{hz:.3g}" if hz < 100.0 else f"{hz:.0f}"), "Hz"


def format_range(low_hz: float, high_hz: float) -> str:
    """A frequency range with the unit once where both ends share it: ``200-400 Hz``,
    ``2-5 kHz``, ``800 Hz-1.2 kHz``."""
    (low, low_unit), (high, high_unit) = _figure(low_hz), _figure(high_hz)
    if low_unit == high_unit:
        return f"{low}-{high} {high_unit}"
    return f"{low} {low_unit}-{high} {high_unit}"
