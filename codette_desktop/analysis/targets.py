"""Level targets per track type, and the streaming/broadcast loudness targets.

Tracks and masters are judged differently: a track feeding a mix should peak around
-6 dBFS to leave the bus headroom, while a master is judged against delivery targets
(-1 dBTP true-peak ceiling, streaming normalisation around -14 LUFS).
"""

from __future__ import annotations

from dataclasses import dataclass

# Track types treated as finished programme material (delivery targets apply).
PROGRAMME_TYPES = frozenset({"master", "mix", "mixdown", "stereo_out", "main"})

# Streaming services normalise playback to these integrated loudness targets
# (Spotify "normal", YouTube, Tidal, Amazon Music: -14 LUFS; Apple Music Sound Check:
# -16 LUFS). EBU R128 (2020) broadcast: -23 LUFS, max true peak -1 dBTP.
STREAMING_TARGET_LUFS = -14.0
APPLE_TARGET_LUFS = -16.0
EBU_R128_TARGET_LUFS = -23.0
TRUE_PEAK_CEILING_DBTP = -1.0
# Spotify raises quiet tracks only until their true peak reaches -1 dBTP.
SPOTIFY_UP_LIMIT_DBTP = -1.0


@dataclass(frozen=True)
class TrackProfile:
    """What a healthy signal of one track type looks like.

    ``peak_target_dbfs``: where sample peaks should sit (tracks: headroom for the mix bus;
    programme: the true-peak ceiling). ``rms_range_dbfs``: a typical RMS window.
    ``min_crest_db``: below this peak-to-RMS ratio the signal is squashed.
    ``min_plr_db``: below this true-peak-to-loudness ratio it is over-limited.
    """

    label: str
    programme: bool
    peak_target_dbfs: float
    rms_range_dbfs: tuple[float, float]
    min_crest_db: float
    min_plr_db: float


_DEFAULT = TrackProfile("track", False, -6.0, (-26.0, -12.0), 6.0, 6.0)
_PROFILES: dict[str, TrackProfile] = {
    # Programme: ~-14 LUFS masters measure roughly -16..-10 dBFS RMS; PLR under 8 dB is
    # the usual sign of heavy limiting (it is also where streaming normalisation starts to
    # make the track sound smaller than its neighbours).
    "master": TrackProfile("master", True, TRUE_PEAK_CEILING_DBTP, (-18.0, -10.0), 6.0, 8.0),
    "vocal": TrackProfile("vocal track", False, -6.0, (-24.0, -14.0), 8.0, 8.0),
    # Drums keep their transients: a crest factor under 10 dB means squashed hits.
    "drums": TrackProfile("drum track", False, -6.0, (-26.0, -14.0), 10.0, 10.0),
    # Bass is naturally dense: a lower crest factor is fine.
    "bass": TrackProfile("bass track", False, -6.0, (-24.0, -12.0), 5.0, 5.0),
    "bus": TrackProfile("bus", False, -6.0, (-24.0, -10.0), 6.0, 6.0),
}
_UNTYPED = TrackProfile("mix", True, TRUE_PEAK_CEILING_DBTP, (-18.0, -10.0), 6.0, 8.0)
_ALIASES = {
    "vocals": "vocal",
    "voice": "vocal",
    "drum": "drums",
    "kick": "drums",
    "snare": "drums",
    "percussion": "drums",
    "sub": "bass",
}


def profile_for(track_type: object) -> TrackProfile:
    """The profile for a wire ``track_type`` (any string, case-insensitive).

    No type at all means a file sent on its own (the test client, a bounced mix), which is
    judged as finished programme material; unknown types are judged as ordinary tracks.
    """
    if not isinstance(track_type, str) or not track_type.strip():
        return _UNTYPED
    name = track_type.strip().lower()
    if name in PROGRAMME_TYPES:
        return _PROFILES["master"]
    name = _ALIASES.get(name, name)
    return _PROFILES.get(name, _DEFAULT)


def track_kind(track_type: object) -> str:
    """Canonical type name used by the band-balance rules (``vocal``, ``bass``, ...)."""
    if not isinstance(track_type, str) or not track_type.strip():
        return "master"
    name = track_type.strip().lower()
    if name in PROGRAMME_TYPES:
        return "master"
    return _ALIASES.get(name, name)
