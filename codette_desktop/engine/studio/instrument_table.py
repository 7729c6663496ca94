"""The instrument reference table: recognising a track's role and its frequency facts.

Read from ``resources/reference/instruments.json`` (see its ``about``). One table serves
genre detection (which instruments a session has), the session review (which chain a
track wants) and instrument info (fundamental ranges and mixing bands).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from codette_desktop.engine.studio.pitch import format_range, note_hz
from codette_desktop.engine.studio.reference import Record, read_table
from codette_desktop.errors import ConfigError

_SEPARATORS = re.compile(r"[_\-.]+")


@dataclass(frozen=True)
class Band:
    """A named frequency region in Hz (``high_hz`` >= ``low_hz``)."""

    name: str
    low_hz: float
    high_hz: float

    def describe(self) -> str:
        return f"{self.name} {format_range(self.low_hz, self.high_hz)}"


@dataclass(frozen=True)
class Instrument:
    """One row of the table. ``range_hz``/``range_notes`` are None for unranged roles."""

    id: str
    category: str
    instrument: str
    label: str
    pattern: re.Pattern[str]
    types: tuple[str, ...]
    kb_track_type: str | None
    kb_topic: str
    kb_entries: tuple[str, ...]
    range_hz: tuple[float, float] | None
    range_notes: tuple[str, str] | None
    range_note: str | None
    bands: tuple[Band, ...]
    sources: tuple[str, ...]

    @property
    def has_info(self) -> bool:
        """True when the table holds frequency facts for it (offered by instrument info)."""
        return self.range_hz is not None or bool(self.bands)


def _range(row: Record) -> tuple[tuple[float, float] | None, tuple[str, str] | None]:
    if not row.has("range"):
        return None, None
    spec = row.record("range")
    if spec.has("low"):
        notes = (spec.text("low"), spec.text("high"))
        try:
            hz = (note_hz(notes[0]), note_hz(notes[1]))
        except ValueError as exc:
            raise ConfigError(f"{spec.where}: {exc}") from exc
    else:
        notes = None
        hz = (spec.number("low_hz"), spec.number("high_hz"))
    if not 0 < hz[0] < hz[1]:
        raise ConfigError(f"{spec.where}: the range must rise")
    return hz, notes


def _bands(row: Record) -> tuple[Band, ...]:
    raw = row.value("bands", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{row.where}.bands: must be a list of [name, low_hz, high_hz]")
    bands = []
    for i, item in enumerate(raw):
        ok = (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item[1:])
            and 0 < item[1] <= item[2]
        )
        if not ok:
            raise ConfigError(f"{row.where}.bands[{i}]: expected [name, low_hz, high_hz]")
        bands.append(Band(item[0], float(item[1]), float(item[2])))
    return tuple(bands)


def _instrument(row: Record) -> Instrument:
    try:
        pattern = re.compile(row.text("pattern"))
    except re.error as exc:
        raise ConfigError(f"{row.where}.pattern: {exc}") from exc
    hz, notes = _range(row)
    bands = _bands(row)
    sources = row.texts("sources", allow_empty=True)
    if (hz or bands) and not sources:
        raise ConfigError(f"{row.where}: figures need 'sources'")
    return Instrument(
        id=row.text("id"),
        category=row.text("category"),
        instrument=row.text("instrument"),
        label=row.text("label"),
        pattern=pattern,
        types=tuple(t.lower() for t in row.texts("types", allow_empty=True)),
        kb_track_type=row.optional_text("kb_track_type"),
        kb_topic=row.text("kb_topic"),
        kb_entries=row.texts("kb_entries", allow_empty=True),
        range_hz=hz,
        range_notes=notes,
        range_note=row.optional_text("range_note"),
        bands=bands,
        sources=sources,
    )


class InstrumentTable:
    """The validated table, in file order (the first matching row wins)."""

    def __init__(self, instruments: tuple[Instrument, ...], sources: tuple[str, ...]) -> None:
        ids = [i.id for i in instruments]
        if len(ids) != len(set(ids)):
            raise ConfigError("instruments.json: duplicate instrument id")
        keys = [(i.category, i.instrument) for i in instruments]
        if len(keys) != len(set(keys)):
            raise ConfigError("instruments.json: duplicate category/instrument pair")
        self.instruments = instruments
        self.sources = sources
        self._by_id = {i.id: i for i in instruments}

    @classmethod
    def from_record(cls, table: Record) -> InstrumentTable:
        return cls(
            tuple(_instrument(r) for r in table.records("instruments")), table.texts("sources")
        )

    def get(self, instrument_id: str) -> Instrument:
        return self._by_id[instrument_id]

    def identify(self, *, name: str | None, track_type: str | None) -> Instrument | None:
        """The role of a track: from its name first, else from its declared type."""
        if name:
            text = _SEPARATORS.sub(" ", name.lower())
            for instrument in self.instruments:
                if instrument.pattern.search(text):
                    return instrument
        if track_type:
            wanted = track_type.strip().lower()
            for instrument in self.instruments:
                if wanted in instrument.types:
                    return instrument
        return None

    def categories(self) -> dict[str, list[str]]:
        """Category -> instruments that have frequency facts, in table order."""
        out: dict[str, list[str]] = {}
        for instrument in self.instruments:
            if instrument.has_info:
                out.setdefault(instrument.category, []).append(instrument.instrument)
        return out


@functools.cache
def shipped_instruments() -> InstrumentTable:
    """The table shipped in ``resources/reference/instruments.json``, read once."""
    return InstrumentTable.from_record(read_table("instruments.json"))
