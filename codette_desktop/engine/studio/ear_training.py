"""Ear-training exercises: intervals and chord qualities by difficulty.

Serves ``GET /api/analysis/ear-training?exercise_type=interval|chord&difficulty=...``.
The tables live in ``resources/reference/ear_training.json`` (semitones in twelve-tone
equal temperament, reference songs for intervals, chord qualities, with sources).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from codette_desktop.engine.studio.reference import Record, read_table
from codette_desktop.errors import ConfigError, ProtocolError

EXERCISE_TYPES = ("interval", "chord")
_TYPE_ALIASES = {
    "interval": "interval",
    "intervals": "interval",
    "chord": "chord",
    "chords": "chord",
}


@dataclass(frozen=True)
class Interval:
    name: str
    short: str
    semitones: int
    from_c: str
    difficulty: str
    example: str


@dataclass(frozen=True)
class Chord:
    name: str
    symbol: str
    intervals: tuple[int, ...]
    difficulty: str
    quality: str


@dataclass(frozen=True)
class EarTrainingTable:
    difficulties: tuple[str, ...]
    intervals: tuple[Interval, ...]
    chords: tuple[Chord, ...]
    tips: dict[str, dict[str, tuple[str, ...]]]
    sources: tuple[str, ...]


def _difficulty(row: Record, allowed: tuple[str, ...]) -> str:
    value = row.text("difficulty")
    if value not in allowed:
        raise ConfigError(f"{row.where}.difficulty: {value!r} is not one of {allowed}")
    return value


def load_table(table: Record) -> EarTrainingTable:
    """Validate the ear-training table (semitones 0..24, intervals rising from 0)."""
    difficulties = table.texts("difficulties")
    intervals = []
    for row in table.records("intervals"):
        semitones = int(row.number("semitones"))
        if not 0 <= semitones <= 24:
            raise ConfigError(f"{row.where}.semitones: must be 0..24")
        intervals.append(
            Interval(
                name=row.text("name"),
                short=row.text("short"),
                semitones=semitones,
                from_c=row.text("from_c"),
                difficulty=_difficulty(row, difficulties),
                example=row.text("example"),
            )
        )
    chords = []
    for row in table.records("chords"):
        steps = row.integers("intervals")
        if steps[0] != 0 or list(steps) != sorted(set(steps)) or steps[-1] > 24:
            raise ConfigError(f"{row.where}.intervals: must rise from 0 to at most 24")
        chords.append(
            Chord(
                name=row.text("name"),
                symbol=row.text("symbol"),
                intervals=steps,
                difficulty=_difficulty(row, difficulties),
                quality=row.text("quality"),
            )
        )
    tips_table = table.record("tips")
    tips = {
        kind: {level: tips_table.record(kind).texts(level) for level in difficulties}
        for kind in EXERCISE_TYPES
    }
    return EarTrainingTable(
        difficulties=difficulties,
        intervals=tuple(intervals),
        chords=tuple(chords),
        tips=tips,
        sources=table.texts("sources"),
    )


@functools.cache
def shipped_table() -> EarTrainingTable:
    """The table shipped in ``resources/reference/ear_training.json``, read once."""
    return load_table(read_table("ear_training.json"))


def exercises(exercise_type: str, difficulty: str) -> dict[str, object]:
    """Exercises of one type and difficulty. Serves ``GET /api/analysis/ear-training``.

    ``exercise_type``: ``interval`` or ``chord`` (plurals accepted); ``difficulty``:
    ``beginner``, ``intermediate`` or ``advanced``. Case is ignored.

    Returns ``{exercise_type, difficulty, exercises, tips, sources}``. Interval exercises
    are ``{name, short, semitones, example, from_c, cents, difficulty}`` (``example`` a
    well-known ascending opening); chord exercises ``{name, symbol, intervals, quality,
    difficulty}`` with ``intervals`` in semitones above the root.

    Raises ProtocolError("invalid_field") naming ``exercise_type`` or ``difficulty`` and
    the valid values.
    """
    table = shipped_table()
    kind = _TYPE_ALIASES.get(str(exercise_type).strip().lower())
    if kind is None:
        raise ProtocolError(
            "invalid_field",
            f"exercise_type must be one of {', '.join(EXERCISE_TYPES)}, got {exercise_type!r}",
            field="exercise_type",
        )
    level = str(difficulty).strip().lower()
    if level not in table.difficulties:
        raise ProtocolError(
            "invalid_field",
            f"difficulty must be one of {', '.join(table.difficulties)}, got {difficulty!r}",
            field="difficulty",
        )
    items: list[dict[str, object]]
    if kind == "interval":
        items = [
            {
                "name": i.name,
                "short": i.short,
                "semitones": i.semitones,
                "example": i.example,
                "from_c": i.from_c,
                "cents": i.semitones * 100,
                "difficulty": i.difficulty,
            }
            for i in table.intervals
            if i.difficulty == level
        ]
    else:
        items = [
            {
                "name": c.name,
                "symbol": c.symbol,
                "intervals": list(c.intervals),
                "quality": c.quality,
                "difficulty": c.difficulty,
            }
            for c in table.chords
            if c.difficulty == level
        ]
    return {
        "exercise_type": kind,
        "difficulty": level,
        "exercises": items,
        "tips": list(table.tips[kind][level]),
        "sources": list(table.sources),
    }
