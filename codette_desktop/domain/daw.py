"""The DAW context a client sends with a chat: tracks, the selected track, transport.

Two senders shape it differently, and both are accepted as they are:

- the protocol's track object: ``volume`` (fader dB), ``peak_level``/``rms_level``
  (measured dBFS), ``plugins`` (names);
- CoreLogic Studio (``FRONTEND_CONTRACT.md`` §2, ``POST /codette/chat``): ``volume`` is the
  fader position in dB (-60..+12), never a signal level; ``inserts``/``sends`` are counts
  on the selected track and lists of objects on full Track objects; plus
  ``track_counts``, ``is_playing``, ``current_time`` (s) and ``time_signature``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codette_desktop.domain.fields import WireFields

MAX_TRACKS = 1000
MAX_PLUGINS = 256
# Levels: -400 dBFS is below any real signal; +60 leaves room for odd meters, not for inf.
LEVEL_RANGE = (-400.0, 60.0)
FADER_RANGE = (-200.0, 60.0)
# Pan: CoreLogic sends -1..1, other DAWs -100..100.
PAN_RANGE = (-100.0, 100.0)
TRACK_COUNT_KEYS = ("total", "audio", "instrument", "midi", "aux", "vca", "master")


@dataclass(frozen=True, slots=True)
class Track:
    """One track as a client described it. Only what was sent is set."""

    id: str | None = None
    name: str | None = None
    type: str | None = None  # lower case, as sent ("vocal", "audio", "master", ...)
    volume_db: float | None = None  # fader position, not a level
    pan: float | None = None
    muted: bool = False
    soloed: bool = False
    armed: bool = False
    peak_dbfs: float | None = None  # measured
    rms_dbfs: float | None = None  # measured
    plugins: tuple[str, ...] = ()
    insert_count: int | None = None
    send_count: int | None = None

    @classmethod
    def from_wire(cls, f: WireFields) -> Track:
        track_id = f.identifier("id")
        track_type = f.string("type", max_len=64)
        inserts, insert_names = _count_or_names(f, "inserts")
        sends, _ = _count_or_names(f, "sends")
        plugins = f.strings("plugins", max_items=MAX_PLUGINS) or insert_names
        return cls(
            id=None if track_id is None else str(track_id),
            name=f.string("name"),
            type=track_type.strip().lower() or None if track_type else None,
            volume_db=f.number("volume", low=FADER_RANGE[0], high=FADER_RANGE[1]),
            pan=f.number("pan", low=PAN_RANGE[0], high=PAN_RANGE[1]),
            muted=bool(f.boolean("muted")),
            soloed=bool(f.boolean("soloed")),
            armed=bool(f.boolean("armed")),
            peak_dbfs=f.number("peak_level", low=LEVEL_RANGE[0], high=LEVEL_RANGE[1]),
            rms_dbfs=f.number("rms_level", low=LEVEL_RANGE[0], high=LEVEL_RANGE[1]),
            plugins=plugins,
            insert_count=inserts,
            send_count=sends,
        )

    def to_wire(self) -> dict[str, Any]:
        """The protocol's track object (what was set only), e.g. for logs and replies."""
        values: dict[str, Any] = {
            "id": self.id, "name": self.name, "type": self.type, "volume": self.volume_db,
            "pan": self.pan, "peak_level": self.peak_dbfs, "rms_level": self.rms_dbfs,
            "inserts": self.insert_count, "sends": self.send_count,
        }
        out = {k: v for k, v in values.items() if v is not None}
        out.update({k: True for k in ("muted", "soloed", "armed") if getattr(self, k)})
        if self.plugins:
            out["plugins"] = list(self.plugins)
        return out


def _count_or_names(f: WireFields, key: str) -> tuple[int | None, tuple[str, ...]]:
    """``inserts``/``sends``: a count, or a list of objects (plugin names are kept)."""
    value = f.values.get(key)
    if value is None:
        return None, ()
    if isinstance(value, list):
        items = f.array(key, max_items=MAX_PLUGINS) or []
        names = tuple(
            item["name"] for item in items
            if isinstance(item, dict) and isinstance(item.get("name"), str)
            and 0 < len(item["name"]) <= 256
        )
        return len(items), names
    count = f.integer(key, low=0, high=100_000)
    return count, ()


@dataclass(frozen=True, slots=True)
class DawContext:
    """What the DAW told us about the session. Empty when nothing was sent."""

    tracks: tuple[Track, ...] = ()
    selected_track: Track | None = None
    bpm: float | None = None
    genre: str | None = None
    project_name: str | None = None
    time_signature: str | None = None
    track_counts: Mapping[str, int] = field(default_factory=dict)
    is_playing: bool | None = None
    current_time_s: float | None = None

    @classmethod
    def from_wire(cls, f: WireFields) -> DawContext:
        tracks = tuple(Track.from_wire(t) for t in f.objects("tracks", max_items=MAX_TRACKS))
        selected = f.obj("selected_track")
        counts = f.obj("track_counts")
        return cls(
            tracks=tracks,
            selected_track=Track.from_wire(selected) if selected is not None else None,
            bpm=f.number("bpm", low=1, high=999),
            genre=f.string("genre", max_len=64),
            project_name=f.string("project_name"),
            time_signature=f.string("time_signature", max_len=16),
            track_counts={
                key: value for key in TRACK_COUNT_KEYS
                if (value := counts.integer(key, low=0, high=100_000)) is not None
            } if counts is not None else {},
            is_playing=f.boolean("is_playing"),
            current_time_s=f.number("current_time", low=0, high=7 * 24 * 3600),
        )

    @property
    def is_empty(self) -> bool:
        return self == DawContext()

    def to_wire(self) -> dict[str, Any]:
        """The context as the protocol spells it (what was set only)."""
        values: dict[str, Any] = {
            "tracks": [t.to_wire() for t in self.tracks],
            "selected_track": self.selected_track.to_wire() if self.selected_track else None,
            "bpm": self.bpm, "genre": self.genre, "project_name": self.project_name,
            "time_signature": self.time_signature,
            "track_counts": dict(self.track_counts) or None,
            "is_playing": self.is_playing, "current_time": self.current_time_s,
        }
        return {k: v for k, v in values.items() if v is not None}
