"""Loudness and level references the engine computes with (one home for these figures).

The knowledge base states the same figures in prose; these are the numbers the engine
does arithmetic with when a question or the DAW gives it a reading ("my master is at
-6 LUFS": how much will each platform turn it down?).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    reference_lufs: float
    turns_up: bool  # plays quieter masters louder (only as far as the true peak allows)


# Playback normalisation references: Spotify (default "normal" setting), YouTube, Tidal and
# Amazon Music play at about -14 LUFS; Apple Music Sound Check at about -16 LUFS
# (Spotify for Artists "Loudness normalization"; AES TD1008). Spotify turns quiet tracks up
# as far as a -1 dBTP true peak allows; YouTube and Apple Music do not turn them up.
STREAMING_PLATFORMS = (
    Platform("Spotify", -14.0, True),
    Platform("YouTube", -14.0, False),
    Platform("Tidal", -14.0, False),
    Platform("Amazon Music", -14.0, False),
    Platform("Apple Music", -16.0, False),
)
STREAMING_REFERENCE_LUFS = -14.0

# True-peak ceilings: -1 dBTP for streaming and download (EBU R128, AES TD1008); -2 dBTP
# for very loud masters through lossy codecs (AES TD1008) and ATSC A/85 broadcast.
TRUE_PEAK_CEILING_DBTP = -1.0
LOUD_MASTER_CEILING_DBTP = -2.0
# Masters louder than this are "very loud" in the sense above.
LOUD_MASTER_LUFS = -14.0
# A premaster (the mix sent to mastering) peaks around -6 dBFS, with no limiter on it.
PREMASTER_PEAK_DBFS = -6.0
# Monitoring: about 79-85 dB SPL at the mix position (small to large rooms).
MONITOR_SPL_RANGE = (79.0, 85.0)
