"""Mixing facts for one instrument: its frequency ranges plus knowledge-base advice.

Serves ``GET /api/analysis/instrument-info?category=vocals&instrument=lead``. The
frequency facts come from the instrument table (``resources/reference/instruments.json``,
cited); the EQ, dynamics and space advice are lines quoted from the knowledge entries
written for that instrument (or general entries when the base has none for it).
"""

from __future__ import annotations

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.instrument_table import (
    Instrument,
    InstrumentTable,
    shipped_instruments,
)
from codette_desktop.engine.studio.kb_picks import quote
from codette_desktop.engine.studio.pitch import format_range
from codette_desktop.errors import ProtocolError

# data key -> (query words, knowledge categories, the kind of line wanted). The line
# pattern also finds the slot's answer in an entry already quoted for this instrument:
# "Compress lightly: 2:1-3:1" in the piano EQ entry beats a general compressor entry.
_SLOTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("eq", "eq high-pass", ("eq",), r"\bhigh-pass|\bcut\b|\bboost"),
    ("dynamics", "compression ratio threshold", ("compression", "dynamics"), r"\d:1|\bduck"),
    ("space", "reverb", ("reverb",), r"\b(plates?|halls?|rooms?|chambers?)\b[^;]*\d\s*s\b"),
)


def _resolve(table: InstrumentTable, category: str, instrument: str) -> Instrument:
    categories = table.categories()
    wanted = category.strip().lower().replace("-", "_")
    if wanted not in categories:
        # "vocal", "guitar", "horns": whatever the name identifies says which category.
        guess = table.identify(name=wanted, track_type=wanted)
        if guess is None or guess.category not in categories:
            raise ProtocolError(
                "invalid_field",
                f"category must be one of {', '.join(categories)}, got {category!r}",
                field="category",
            )
        wanted = guess.category
    known = categories[wanted]
    key = instrument.strip().lower().replace("-", "_").replace(" ", "_")
    for row in table.instruments:
        if row.category == wanted and row.has_info and row.instrument == key:
            return row
    guess = table.identify(name=instrument, track_type=instrument)
    if guess is not None and guess.category == wanted and guess.has_info:
        return guess
    raise ProtocolError(
        "invalid_field",
        f"instrument must be one of {', '.join(known)} for category {wanted!r}, got {instrument!r}",
        field="instrument",
    )


def _frequency_ranges(row: Instrument) -> str:
    parts = []
    if row.range_hz is not None:
        span = format_range(*row.range_hz)
        if row.range_notes is not None:
            span = f"{row.range_notes[0]}-{row.range_notes[1]} ({span})"
        parts.append(f"fundamentals {span}")
    elif row.range_note:
        parts.append(f"fundamentals {row.range_note}")
    parts.extend(band.describe() for band in row.bands)
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


def _advice(kb: KnowledgeBase, row: Instrument) -> tuple[dict[str, str], list[str], str | None]:
    """Slot -> quoted line, the entries quoted, and a pitfall of the first of them.

    Each slot is answered from the entries the table names for this instrument when one
    has a fitting line, else from the best entry of the slot's categories that suits
    the instrument's track type (general entries only when it has none).
    """
    own = [e for e in (kb.get(i) for i in row.kb_entries) if e is not None]
    lines: dict[str, str] = {}
    quoted: list[str] = []
    for key, query, categories, wanted in _SLOTS:
        found = quote(
            kb,
            f"{row.kb_topic} {query}",
            own=own,
            pattern=wanted,
            track_type=row.kb_track_type,
            categories=categories,
            exclude_lines=lines.values(),
            exclude=quoted,
        )
        if found is None:
            continue
        lines[key] = found.line
        if found.entry.id not in quoted:
            quoted.append(found.entry.id)
    first = own[0] if own else (kb.get(quoted[0]) if quoted else None)
    pitfall = first.pitfalls[0] if first is not None and first.pitfalls else None
    return lines, quoted, pitfall


def instrument_info(kb: KnowledgeBase, category: str, instrument: str) -> dict[str, object]:
    """Frequency ranges and mixing advice for ``instrument`` in ``category``.

    Serves ``GET /api/analysis/instrument-info?category=...&instrument=...``.

    ``category``: ``vocals``, ``drums``, ``bass``, ``keys``, ``guitars``, ``synths``,
    ``strings``, ``brass`` (singular forms and instrument names are understood);
    ``instrument``: e.g. ``lead``, ``backing``, ``kick``, ``electric``, ``piano``.

    Returns ``{category, instrument, label, data, fundamental_hz, bands, knowledge_entries,
    sources}``. ``data`` maps a key to a string and leads with ``frequency_ranges`` (the
    fundamental range, then the named mixing regions), then ``eq``, ``dynamics``,
    ``space`` (quoted knowledge lines, when an entry fits), ``watch_out`` (a pitfall) and
    ``knowledge_entries``. The DAW panel shows only the first key, so it is the most
    useful one.

    Raises ProtocolError("invalid_field") naming ``category`` or ``instrument`` with the
    valid values.
    """
    table = shipped_instruments()
    row = _resolve(table, category, instrument)
    data: dict[str, str] = {"frequency_ranges": _frequency_ranges(row)}
    lines, quoted, pitfall = _advice(kb, row)
    data.update(lines)
    if pitfall:
        data["watch_out"] = pitfall
    if quoted:
        data["knowledge_entries"] = ", ".join(quoted)
    return {
        "category": row.category,
        "instrument": row.instrument,
        "label": row.label,
        "data": data,
        "fundamental_hz": [round(v, 2) for v in row.range_hz] if row.range_hz else None,
        "bands": [
            {"name": b.name, "low_hz": b.low_hz, "high_hz": b.high_hz, "text": b.describe()}
            for b in row.bands
        ],
        "knowledge_entries": quoted,
        "sources": list(row.sources),
        "range_text": format_range(*row.range_hz) if row.range_hz else None,
    }
