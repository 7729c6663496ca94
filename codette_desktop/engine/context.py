"""Reading the DAW context of a chat message: tracks, levels, tempo.

The protocol layer has type-checked the shape, but any key may be absent, ``None`` or odd,
so every reader here is tolerant: a value it cannot use is ignored, never an error.
Everything returned is plain data and text; :mod:`codette_desktop.engine.chat` decides
where it goes in an answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# Level targets. A -6 dBFS peak ceiling per track leaves room for the sum of tracks and
# for inter-sample peaks; -18 dBFS RMS is where analog-modelled plugins are calibrated
# (0 VU = -18 dBFS, EBU R68 alignment).
PEAK_WARNING_DBFS = -1.0
PEAK_TARGET_DBFS = -6.0
RMS_TARGET_DBFS = -18.0
RMS_LOW_DBFS = -36.0
RMS_HOT_DBFS = -8.0

# Track types whose declared name says nothing about the sound, so the name is read instead.
_GENERIC_TYPES = frozenset({"", "audio", "instrument", "midi", "track", "other", "aux"})

# Name fragments -> family. Order matters: "bass drum" is a kick, "808" is bass.
_NAME_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"\b(kick|kik|bd|bass ?drum)\b", "kick"),
        (r"\b(snare|sn|rim)\b", "snare"),
        (
            r"\b(hi ?hats?|hh|cymbals?|ride|crash|overheads?|oh|toms?|drums?|perc\w*|kit|"
            r"loop|beat|clap)\b",
            "drums",
        ),
        (r"\b(bass\w*|808s?|sub)\b", "bass"),
        (
            r"\b(lead ?vox|vox|vocals?|voc|vox\w*|bvs?|backing|harmony|harmonies|choir|"
            r"singer|adlibs?|rap)\b",
            "vocal",
        ),
        (r"\b(gtrs?|guitars?|acoustic)\b", "guitar"),
        (r"\b(piano|keys|rhodes|organ|epiano|wurli)\b", "keys"),
        (r"\b(synths?|pads?|pluck|arp|lead)\b", "synth"),
        (r"\b(master|stereo out|main out|2 ?bus)\b", "master"),
        (r"\b(bus|group|aux|fx|return|reverb|delay)\b", "bus"),
    )
)

# Declared types the frontend uses, mapped to the family name the advice is written for.
_TYPE_FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "vocal": "vocal",
        "vocals": "vocal",
        "vox": "vocal",
        "voice": "vocal",
        "drums": "drums",
        "drum": "drums",
        "percussion": "drums",
        "kick": "kick",
        "snare": "snare",
        "hihat": "drums",
        "hat": "drums",
        "bass": "bass",
        "808": "bass",
        "sub": "bass",
        "guitar": "guitar",
        "keys": "keys",
        "piano": "keys",
        "synth": "synth",
        "pad": "synth",
        "bus": "bus",
        "group": "bus",
        "master": "master",
    }
)

LOW_END_FAMILIES = frozenset({"kick", "drums", "bass"})


def _number(value: object) -> float | None:
    # bool is an int subclass; True is not a level.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def format_db(value: float) -> str:
    """A level with one decimal and an explicit sign for positive values: ``+0.4``."""
    text = f"{value:+.1f}" if value > 0 else f"{value:.1f}"
    return "0.0" if text in ("-0.0", "+0.0") else text


def format_ms(value: float) -> str:
    """Milliseconds, dropping a trailing .0 (``500``, ``62.5``)."""
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"


@dataclass(frozen=True)
class TrackInfo:
    """One track of the DAW context, with its family worked out."""

    id: str | None
    name: str | None
    declared_type: str | None
    family: str | None
    volume_db: float | None
    pan: float | None
    muted: bool
    soloed: bool
    peak_dbfs: float | None
    rms_dbfs: float | None
    plugins: tuple[str, ...]

    @property
    def label(self) -> str:
        """How an answer addresses it: ``'Lead Vox' (vocal) track``."""
        kind = self.declared_type or self.family
        name = f"'{self.name}'" if self.name else "selected"
        return f"{name} ({kind}) track" if kind else f"{name} track"

    @property
    def type_terms(self) -> tuple[str, ...]:
        """Track types to boost retrieval with (declared and inferred)."""
        return tuple(t for t in dict.fromkeys((self.declared_type, self.family)) if t)


def read_track(raw: object) -> TrackInfo | None:
    """A track dict as :class:`TrackInfo`, or None when it is not a dict."""
    if not isinstance(raw, Mapping):
        return None
    name = _text(raw.get("name"))
    declared = _text(raw.get("type"))
    declared = declared.lower() if declared else None
    raw_id = raw.get("id")
    plugins_raw = raw.get("plugins")
    plugins = (
        tuple(p.strip() for p in plugins_raw if isinstance(p, str) and p.strip())
        if isinstance(plugins_raw, list | tuple)
        else ()
    )
    return TrackInfo(
        id=str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None,
        name=name,
        declared_type=declared,
        family=infer_family(declared, name),
        volume_db=_number(raw.get("volume")),
        pan=_number(raw.get("pan")),
        muted=raw.get("muted") is True,
        soloed=raw.get("soloed") is True,
        peak_dbfs=_number(raw.get("peak_level")),
        rms_dbfs=_number(raw.get("rms_level")),
        plugins=plugins,
    )


def infer_family(declared: str | None, name: str | None) -> str | None:
    """The instrument family from the declared type, or from the name when it is generic."""
    if declared and declared not in _GENERIC_TYPES:
        family = _TYPE_FAMILIES.get(declared)
        if family:
            return family
    if name:
        lowered = name.lower().replace("_", " ").replace("-", " ")
        for pattern, family in _NAME_FAMILIES:
            if pattern.search(lowered):
                return family
    if declared and declared not in _GENERIC_TYPES:
        return declared
    return None


@dataclass(frozen=True)
class TempoGrid:
    """Note lengths in milliseconds at a tempo (60000 / bpm ms per quarter note)."""

    bpm: float

    @property
    def quarter_ms(self) -> float:
        return 60000.0 / self.bpm

    def note_ms(self, fraction: float) -> float:
        """Length of a note that is ``fraction`` of a whole note (1/8 -> 0.125)."""
        return self.quarter_ms * 4.0 * fraction


@dataclass(frozen=True)
class LevelFinding:
    """A level problem on a track with the gain change that fixes it."""

    kind: str  # "clipping" | "headroom" | "low_rms" | "hot_rms"
    gain_db: float  # negative = turn down
    target_dbfs: float
    text: str
    math: str
    step: str


@dataclass(frozen=True)
class DawContext:
    """Everything the engine uses from ``daw_context``."""

    tracks: tuple[TrackInfo, ...]
    selected: TrackInfo | None
    bpm: float | None
    genre: str | None
    project_name: str | None

    @property
    def is_empty(self) -> bool:
        return not self.tracks and self.selected is None and self.bpm is None

    @property
    def families(self) -> frozenset[str]:
        pool = [*self.tracks, *([self.selected] if self.selected else [])]
        return frozenset(t.family for t in pool if t.family)

    @property
    def tempo(self) -> TempoGrid | None:
        return TempoGrid(self.bpm) if self.bpm else None

    @property
    def track_types(self) -> tuple[str, ...]:
        return self.selected.type_terms if self.selected else ()

    def has_kick_and_bass(self) -> bool:
        families = self.families
        return bool(families & {"kick", "drums"}) and "bass" in families


def read_context(raw: Mapping[str, object] | None) -> DawContext:
    """Parse ``daw_context`` tolerantly; ``None`` gives an empty context."""
    if not isinstance(raw, Mapping):
        return DawContext((), None, None, None, None)
    tracks_raw = raw.get("tracks")
    tracks = tuple(
        t
        for t in (read_track(item) for item in (tracks_raw if isinstance(tracks_raw, list) else []))
        if t is not None
    )
    selected = read_track(raw.get("selected_track"))
    if selected is not None and selected.name is None and selected.id is not None:
        # A frontend may send only the id of the selected track; take the rest from the list.
        selected = next((t for t in tracks if t.id == selected.id), selected)
    bpm = _number(raw.get("bpm"))
    if bpm is not None and not 20.0 <= bpm <= 400.0:
        bpm = None  # outside any musical tempo: a unit mix-up, not a tempo
    return DawContext(
        tracks=tracks,
        selected=selected,
        bpm=bpm,
        genre=_text(raw.get("genre")),
        project_name=_text(raw.get("project_name")),
    )


def level_findings(track: TrackInfo) -> list[LevelFinding]:
    """Headroom and gain-staging problems of one track, each with its gain change."""
    findings: list[LevelFinding] = []
    peak, rms = track.peak_dbfs, track.rms_dbfs
    if peak is not None and peak > PEAK_WARNING_DBFS:
        change = PEAK_TARGET_DBFS - peak
        over = "is clipping" if peak >= 0.0 else "leaves almost no headroom"
        findings.append(
            LevelFinding(
                kind="clipping" if peak >= 0.0 else "headroom",
                gain_db=change,
                target_dbfs=PEAK_TARGET_DBFS,
                text=(
                    f"Its peak at {format_db(peak)} dBFS {over} — pull it down "
                    f"{abs(change):.1f} dB (clip gain or the fader before the plugins) to peak "
                    f"around {PEAK_TARGET_DBFS:.0f} dBFS."
                ),
                math=(
                    f"Gain change = target − peak = {PEAK_TARGET_DBFS:.1f} − ({format_db(peak)}) "
                    f"= {format_db(change)} dB."
                ),
                step=(
                    f"Lower the clip gain of your {track.label} by {abs(change):.1f} dB so it "
                    f"peaks around {PEAK_TARGET_DBFS:.0f} dBFS."
                ),
            )
        )
    if rms is not None and rms < RMS_LOW_DBFS:
        wanted = RMS_TARGET_DBFS - rms
        # Never raise it so far that the peak crosses the ceiling.
        room = PEAK_TARGET_DBFS - peak if peak is not None else wanted
        change = max(0.0, min(wanted, room))
        limited = " (limited by the peak)" if change < wanted else ""
        findings.append(
            LevelFinding(
                kind="low_rms",
                gain_db=change,
                target_dbfs=RMS_TARGET_DBFS,
                text=(
                    f"Its RMS of {format_db(rms)} dBFS is very low for gain staging — raise the "
                    f"input or clip gain about {change:.1f} dB{limited} so it averages nearer "
                    f"{RMS_TARGET_DBFS:.0f} dBFS RMS, where compressors and saturators behave "
                    f"as designed."
                ),
                math=(
                    f"Gain change = {RMS_TARGET_DBFS:.1f} − ({format_db(rms)}) = "
                    f"{format_db(wanted)} dB{limited and f', capped at {change:.1f} dB'}."
                ),
                step=(
                    f"Raise the clip gain of your {track.label} by {change:.1f} dB before the "
                    f"first plugin."
                ),
            )
        )
    elif rms is not None and rms > RMS_HOT_DBFS:
        change = RMS_TARGET_DBFS - rms
        findings.append(
            LevelFinding(
                kind="hot_rms",
                gain_db=change,
                target_dbfs=RMS_TARGET_DBFS,
                text=(
                    f"Its RMS of {format_db(rms)} dBFS is very hot for a single track — bring "
                    f"it down about {abs(change):.1f} dB toward {RMS_TARGET_DBFS:.0f} dBFS RMS "
                    f"so the mix bus keeps its headroom."
                ),
                math=f"Gain change = {RMS_TARGET_DBFS:.1f} − ({format_db(rms)}) = "
                f"{format_db(change)} dB.",
                step=f"Pull your {track.label} down {abs(change):.1f} dB at the clip gain.",
            )
        )
    return findings


def level_summary(track: TrackInfo) -> str | None:
    """ "peak -8.0 dBFS, RMS -20.0 dBFS, crest factor 12.0 dB" or None without levels."""
    parts: list[str] = []
    if track.peak_dbfs is not None:
        parts.append(f"peak {format_db(track.peak_dbfs)} dBFS")
    if track.rms_dbfs is not None:
        parts.append(f"RMS {format_db(track.rms_dbfs)} dBFS")
    if track.peak_dbfs is not None and track.rms_dbfs is not None:
        parts.append(f"crest factor {track.peak_dbfs - track.rms_dbfs:.1f} dB")
    return ", ".join(parts) or None


def state_notes(track: TrackInfo) -> list[str]:
    """Mute and solo remarks for the selected track."""
    notes: list[str] = []
    if track.muted:
        notes.append("It's muted right now, so unmute it before you judge any change.")
    if track.soloed:
        notes.append(
            "It's soloed — make the final call with the whole mix playing, because masking "
            "only shows up in context."
        )
    return notes


def masking_note(context: DawContext) -> str | None:
    """Kick/bass masking advice when both are in the session, else None."""
    if not context.has_kick_and_bass():
        return None
    kick = next((t for t in context.tracks if t.family in ("kick", "drums")), None)
    bass = next((t for t in context.tracks if t.family == "bass"), None)
    kick_name = f"'{kick.name}'" if kick and kick.name else "the kick"
    bass_name = f"'{bass.name}'" if bass and bass.name else "the bass"
    return (
        f"With {kick_name} and {bass_name} both in the session, they fight over 50-100 Hz: "
        f"give each its own slot (e.g. kick fundamental around 50-60 Hz, bass around 80-100 Hz, "
        f"with a 2-3 dB cut in each where the other lives) or sidechain {bass_name} to the kick "
        f"for 2-4 dB of ducking with a fast release."
    )


def tempo_note(tempo: TempoGrid) -> str:
    """Tempo-synced delay and reverb times."""
    return (
        f"At {tempo.bpm:g} BPM a quarter note is {format_ms(tempo.quarter_ms)} ms "
        f"(60000 / {tempo.bpm:g}): 1/8 = {format_ms(tempo.note_ms(1 / 8))} ms, dotted 1/8 = "
        f"{format_ms(tempo.note_ms(3 / 16))} ms, 1/16 = {format_ms(tempo.note_ms(1 / 16))} ms. "
        f"A 1/64-note reverb pre-delay is {format_ms(tempo.note_ms(1 / 64))} ms and a half-note "
        f"decay is {format_ms(tempo.note_ms(1 / 2))} ms, so the tail clears before the next bar."
    )


def tempo_math(tempo: TempoGrid) -> str:
    """The same numbers written as arithmetic, for the mathematical perspective."""
    q = tempo.quarter_ms
    return (
        f"Quarter note = 60000 / {tempo.bpm:g} = {format_ms(q)} ms; "
        f"1/8 = {format_ms(q)} / 2 = {format_ms(q / 2)} ms; "
        f"dotted 1/8 = {format_ms(q / 2)} × 1.5 = {format_ms(q * 0.75)} ms; "
        f"1/64 pre-delay = {format_ms(q)} / 16 = {format_ms(q / 16)} ms."
    )
