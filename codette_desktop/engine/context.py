"""Reading the DAW context of a chat message: tracks, levels, tempo.

The context arrives as a plain mapping, shaped as the browser DAW sends it (see
FRONTEND_CONTRACT §2): ``selected_track`` ``{id, name, type, volume, pan, muted, soloed,
armed, inserts, sends}`` where ``volume`` is the *fader position* in dB (-60..+12, never a
measured level) and ``inserts``/``sends`` are counts; ``tracks`` ``[{id, name, type, muted,
soloed}]``; ``track_counts``; ``is_playing``; ``current_time`` (s); ``bpm`` (that UI always
sends 120) and ``time_signature``. Other clients may add measured ``peak_level`` and
``rms_level`` (dBFS) and ``plugins`` (names). Unknown keys are ignored.

Any key may be absent, ``None`` or odd, so every reader here is tolerant: a value it cannot
use is ignored, never an error. Everything returned is plain data and text;
:mod:`codette_desktop.engine.compose` decides where it goes in an answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from codette_desktop.domain import daw as wire
from codette_desktop.domain.fields import WireFields
from codette_desktop.engine.references import PREMASTER_PEAK_DBFS, TRUE_PEAK_CEILING_DBTP
from codette_desktop.engine.wording import format_db, format_ms

# Level targets. A -6 dBFS peak ceiling per track leaves room for the sum of tracks and
# for inter-sample peaks; -18 dBFS RMS is where analog-modelled plugins are calibrated
# (0 VU = -18 dBFS, EBU R68 alignment).
PEAK_WARNING_DBFS = -1.0
PEAK_TARGET_DBFS = -6.0
RMS_TARGET_DBFS = -18.0
RMS_LOW_DBFS = -36.0
RMS_HOT_DBFS = -8.0
# Fader positions worth a remark: far above unity means gain is missing earlier in the
# chain; the bottom of the frontend's range (-60 dB) is effectively off.
FADER_HIGH_DB = 6.0
FADER_OFF_DB = -60.0
# The browser DAW always sends this tempo (FRONTEND_CONTRACT §2), so from that client it
# is a default, not the song's tempo.
FRONTEND_DEFAULT_BPM = 120.0
# Families whose levels are judged as a programme (master) or a sum of tracks (bus), not
# by single-track gain staging.
PROGRAMME_FAMILIES = frozenset({"master", "bus"})

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


@dataclass(frozen=True)
class TrackInfo:
    """One track of the DAW context, with its family worked out."""

    id: str | None
    name: str | None
    declared_type: str | None
    family: str | None
    volume_db: float | None  # fader position in dB, not a signal level
    pan: float | None
    muted: bool
    soloed: bool
    peak_dbfs: float | None  # measured, when the client sends it
    rms_dbfs: float | None
    plugins: tuple[str, ...]
    inserts: int | None = None  # number of insert plugins
    sends: int | None = None  # number of sends
    armed: bool = False

    @property
    def is_programme(self) -> bool:
        """A master or bus: judged by mastering and bus headroom, not -18 dBFS staging."""
        return self.family in PROGRAMME_FAMILIES

    @property
    def label(self) -> str:
        """How an answer addresses it: ``'Lead Vox' (vocal) track``."""
        kind = self.declared_type or self.family
        name = f"'{self.name}'" if self.name else "selected"
        return f"{name} ({kind}) track" if kind else f"{name} track"

    @property
    def type_terms(self) -> tuple[str, ...]:
        """Track types to boost retrieval with (declared and inferred).

        Generic declared types ("audio", "instrument") say nothing about the sound, so
        only the family inferred from the name counts for them.
        """
        declared = self.declared_type if self.declared_type not in _GENERIC_TYPES else None
        return tuple(t for t in dict.fromkeys((declared, self.family)) if t)


def read_track(track: wire.Track | Mapping[str, object] | None) -> TrackInfo | None:
    """A track (validated by the protocol, or a mapping validated here the same way)
    with its family worked out."""
    if track is None:
        return None
    if isinstance(track, Mapping):
        track = wire.Track.from_wire(WireFields(track))
    name = _text(track.name)
    declared = _text(track.type)
    declared = declared.lower() if declared else None
    return TrackInfo(
        id=track.id,
        name=name,
        declared_type=declared,
        family=infer_family(declared, name),
        volume_db=track.volume_db,
        pan=track.pan,
        muted=track.muted,
        soloed=track.soloed,
        peak_dbfs=track.peak_dbfs,
        rms_dbfs=track.rms_dbfs,
        plugins=tuple(p.strip() for p in track.plugins if p.strip()),
        inserts=track.insert_count if track.insert_count is not None else (
            len(track.plugins) if track.plugins else None),
        sends=track.send_count,
        armed=track.armed,
    )


def _count(value: object) -> int | None:
    # A count; a list (of plugin names, say) counts its items.
    if isinstance(value, list | tuple):
        return len(value)
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


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
    """Note lengths in milliseconds at a tempo (60000 / bpm ms per quarter note).

    ``beats``/``unit`` are the time signature (4/4 unless the DAW says otherwise).
    """

    bpm: float
    beats: int = 4
    unit: int = 4

    @property
    def quarter_ms(self) -> float:
        return 60000.0 / self.bpm

    @property
    def bar_ms(self) -> float:
        return self.quarter_ms * self.beats * 4.0 / self.unit

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
    track_counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    is_playing: bool | None = None
    current_time: float | None = None  # playhead, seconds
    time_signature: tuple[int, int] | None = None
    bpm_is_default: bool = False  # the browser DAW's fixed 120, not the song's tempo

    @property
    def is_empty(self) -> bool:
        return not self.tracks and self.selected is None and self.bpm is None

    @property
    def soloed_others(self) -> tuple[TrackInfo, ...]:
        """Soloed tracks other than the selected one."""
        selected_id = self.selected.id if self.selected else None
        return tuple(t for t in self.tracks if t.soloed and (t.id is None or t.id != selected_id))

    @property
    def families(self) -> frozenset[str]:
        pool = [*self.tracks, *([self.selected] if self.selected else [])]
        return frozenset(t.family for t in pool if t.family)

    @property
    def tempo(self) -> TempoGrid | None:
        if not self.bpm:
            return None
        beats, unit = self.time_signature or (4, 4)
        return TempoGrid(self.bpm, beats, unit)

    @property
    def track_types(self) -> tuple[str, ...]:
        return self.selected.type_terms if self.selected else ()

    def has_kick_and_bass(self) -> bool:
        families = self.families
        return bool(families & {"kick", "drums"}) and "bass" in families


def read_context(raw: wire.DawContext | Mapping[str, object] | None) -> DawContext:
    """What the engine uses from ``daw_context``; ``None`` gives an empty context.

    The context comes validated from the protocol (:class:`codette_desktop.domain.DawContext`);
    a mapping (tests, the eval bench) goes through the same validation, so there is one
    schema.
    """
    if raw is None:
        return DawContext((), None, None, None, None)
    if isinstance(raw, Mapping):
        raw = wire.DawContext.from_wire(WireFields(raw))
    tracks = tuple(t for t in (read_track(item) for item in raw.tracks) if t is not None)
    selected = read_track(raw.selected_track)
    if selected is not None and selected.name is None and selected.id is not None:
        # A frontend may send only the id of the selected track; take the rest from the list.
        selected = next((t for t in tracks if t.id == selected.id), selected)
    bpm = raw.bpm
    if bpm is not None and not 20.0 <= bpm <= 400.0:
        bpm = None  # outside any musical tempo: a unit mix-up, not a tempo
    # The browser DAW's context carries track_counts and time_signature; from it a tempo
    # of exactly 120 is its default, not necessarily the song's.
    from_frontend = bool(raw.track_counts) or raw.time_signature is not None
    return DawContext(
        tracks=tracks,
        selected=selected,
        bpm=bpm,
        genre=_text(raw.genre),
        project_name=_text(raw.project_name),
        track_counts=MappingProxyType(dict(raw.track_counts)),
        is_playing=raw.is_playing,
        current_time=raw.current_time_s,
        time_signature=_time_signature(raw.time_signature),
        bpm_is_default=from_frontend and bpm == FRONTEND_DEFAULT_BPM,
    )


def _time_signature(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(1|2|4|8|16)\s*", value)
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)), int(match.group(2))


def level_findings(track: TrackInfo) -> list[LevelFinding]:
    """Headroom and gain-staging problems of one track, each with its gain change.

    A master or bus is judged as a programme (:func:`programme_findings`): its RMS is
    not held to the -18 dBFS of single-track gain staging.
    """
    if track.is_programme:
        return programme_findings(track)
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


def programme_findings(track: TrackInfo) -> list[LevelFinding]:
    """Peak problems of a master (true-peak ceiling) or a bus (premaster headroom)."""
    peak = track.peak_dbfs
    if peak is None:
        return []
    master = track.family == "master"
    target = TRUE_PEAK_CEILING_DBTP if master else PREMASTER_PEAK_DBFS
    # A master may peak right up to its ceiling; a bus is flagged 3 dB above its target.
    if peak <= (target if master else target + 3.0):
        return []
    change = target - peak
    if master:
        name = "Ceiling change"
        text = (
            f"Its peak at {format_db(peak)} dBFS is above the {target:.0f} dBTP ceiling for "
            f"streaming — set the final limiter to true-peak mode with a {target:.0f} dBTP "
            f"ceiling (about {abs(change):.1f} dB lower), so lossy encoding does not clip."
        )
        step = (
            f"Set the limiter on your {track.label} to true-peak mode with a {target:.0f} dBTP "
            f"ceiling."
        )
    else:
        name = "Gain change"
        text = (
            f"Its peak at {format_db(peak)} dBFS leaves little headroom for a bus — bring the "
            f"tracks feeding it down about {abs(change):.1f} dB (a VCA or trims, not a "
            f"limiter) so it peaks around {target:.0f} dBFS."
        )
        step = (
            f"Lower the tracks feeding your {track.label} by {abs(change):.1f} dB so it peaks "
            f"around {target:.0f} dBFS."
        )
    return [
        LevelFinding(
            kind="clipping" if peak >= 0.0 else "headroom",
            gain_db=change,
            target_dbfs=target,
            text=text,
            math=f"{name} = {target:.1f} − ({format_db(peak)}) = {format_db(change)} dB.",
            step=step,
        )
    ]


def fader_note(track: TrackInfo) -> str | None:
    """A remark on the fader position (``volume``), which is not a signal level."""
    volume = track.volume_db
    if volume is None:
        return None
    if volume >= FADER_HIGH_DB:
        return (
            f"Its fader sits at {format_db(volume)} dB (a fader position, not a signal level): "
            f"if it needs that much, add the gain earlier with clip gain or the input trim and "
            f"bring the fader back near 0 dB, where it moves in fine steps."
        )
    if volume <= FADER_OFF_DB:
        return "Its fader is all the way down, so you won't hear changes until you raise it."
    return None


def routing_note(track: TrackInfo, category: str) -> str | None:
    """A remark on the selected track's insert or send count for the topic at hand."""
    if category in ("compression", "eq", "dynamics", "saturation", "noise") and track.inserts == 0:
        return "It has no insert plugins yet, so this starts a fresh chain on it."
    if category in ("reverb", "delay") and track.sends == 0:
        return (
            f"It has no sends yet: put the {category} on an aux/return track at 100% wet and "
            f"send the track to it, so several tracks can share one space."
        )
    return None


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
    bar = ""
    if (tempo.beats, tempo.unit) != (4, 4):
        bar = f" In {tempo.beats}/{tempo.unit} a bar lasts {format_ms(tempo.bar_ms)} ms."
    return (
        f"At {tempo.bpm:g} BPM a quarter note is {format_ms(tempo.quarter_ms)} ms "
        f"(60000 / {tempo.bpm:g}): 1/8 = {format_ms(tempo.note_ms(1 / 8))} ms, dotted 1/8 = "
        f"{format_ms(tempo.note_ms(3 / 16))} ms, 1/16 = {format_ms(tempo.note_ms(1 / 16))} ms. "
        f"A 1/64-note reverb pre-delay is {format_ms(tempo.note_ms(1 / 64))} ms and a half-note "
        f"decay is {format_ms(tempo.note_ms(1 / 2))} ms, so the tail clears before the next bar."
        f"{bar}"
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
