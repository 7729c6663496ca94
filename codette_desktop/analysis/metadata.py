"""Analysis from the DAW's own meter readings when no audio is sent.

The browser DAW reports ``audio_data`` = ``{"peak_level": dBFS, "rms_level": dBFS,
"duration": s, "sample_rate": Hz}`` (any may be None). From those we can judge headroom
(-peak), crest factor (peak - RMS) and level against the track type's targets
(:mod:`.targets`); everything spectral, loudness (LUFS) or stereo needs the audio.

Penalties for ``quality_score`` (start at 1.0, clamp to 0..1):

======================================  ================================================
condition                               penalty
======================================  ================================================
no peak and no RMS given                0.5 (nothing to judge)
peak ≥ 0 dBFS                           0.35 (the meter says it is clipping)
programme: peak > -1 dBFS               0.10 + 0.05 per dB over
track: peak above -6 dBFS               0.03 per dB over, at most 0.20
                                        (+0.10 at/above -0.1 dBFS)
RMS outside the type's range            0.015 per dB outside, at most 0.30
crest factor < type minimum (6 dB)      0.03 per dB under, at most 0.15
======================================  ================================================
"""

from __future__ import annotations

import math
from typing import Any

from codette_desktop.errors import AnalysisError

from .suggestions import (
    Finding,
    crest_findings,
    headroom_findings,
    quality_score,
    ranked,
    rms_findings,
)
from .targets import STREAMING_TARGET_LUFS, TRUE_PEAK_CEILING_DBTP, TrackProfile, profile_for

ANALYSIS_TYPES = ("spectrum", "dynamic", "loudness", "quality", "full")


def analyze_metadata(
    *, track: dict[str, Any], audio_data: dict[str, Any], analysis_type: str = "full"
) -> dict[str, Any]:
    """The ``analysis`` object for a request that carries meter readings but no audio."""
    check_analysis_type(analysis_type)
    profile = profile_for(track.get("track_type"))
    peak = _finite(audio_data.get("peak_level"))
    rms = _finite(audio_data.get("rms_level"))
    duration = _finite(audio_data.get("duration"))
    rate = audio_data.get("sample_rate")

    measurements: dict[str, Any] = {}
    notes: dict[str, str] = {}
    if peak is not None:
        measurements["sample_peak_dbfs"] = round(peak, 2)
        measurements["headroom_db"] = round(-peak, 2)
    if rms is not None:
        measurements["rms_dbfs"] = round(rms, 2)
    crest: float | None = None
    if peak is not None and rms is not None:
        if rms <= peak:
            crest = peak - rms
            measurements["crest_factor_db"] = round(crest, 2)
        else:
            measurements["crest_factor_db"] = None
            notes["crest_factor_db"] = (
                f"the reported RMS ({rms:.1f} dBFS) is above the peak ({peak:.1f} dBFS); "
                "the meter readings are inconsistent"
            )
    if duration is not None and duration >= 0:
        measurements["duration_s"] = round(duration, 3)
    if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
        measurements["sample_rate"] = rate
    measurements["notes"] = notes

    findings = _findings(peak=peak, rms=rms, crest=crest, profile=profile)
    suggestions = [f.suggestion for f in findings]
    if not suggestions and (peak is not None or rms is not None):
        suggestions.append(_all_clear(peak=peak, rms=rms, profile=profile))
    if analysis_type != "dynamic":
        suggestions.append(
            f"For a {analysis_type} analysis (integrated LUFS, true peak, spectrum and stereo) "
            "send the audio itself in the analyze request."
        )
    return {
        "analysis_type": analysis_type,
        "codette_insights": _insights(
            track=track, profile=profile, peak=peak, rms=rms, crest=crest, findings=findings
        ),
        "mixing_suggestions": suggestions,
        "quality_score": quality_score(findings),
        "measurements": measurements,
    }


def check_analysis_type(analysis_type: object) -> None:
    """Raise ``invalid_field`` for anything but the five analysis types."""
    if analysis_type not in ANALYSIS_TYPES:
        raise AnalysisError(
            f"analysis_type must be one of {', '.join(ANALYSIS_TYPES)}; got {analysis_type!r}",
            code="invalid_field",
            field="analysis_type",
        )


def _findings(
    *, peak: float | None, rms: float | None, crest: float | None, profile: TrackProfile
) -> list[Finding]:
    if peak is None and rms is None:
        return [
            Finding(
                0.5,
                "No peak or RMS reading was sent: meter the track while it plays, "
                "or send the audio for a full measurement.",
                "no level readings",
            )
        ]
    out: list[Finding] = []
    if peak is not None and peak >= 0.0:
        out.append(
            Finding(
                0.35,
                f"Peaks at {peak:+.1f} dBFS reach full scale: the track is clipping. Pull it down "
                f"at least {peak - profile.peak_target_dbfs:.1f} dB to peak near "
                f"{profile.peak_target_dbfs:.0f} dBFS.",
                f"clipping (peak {peak:+.1f} dBFS)",
            )
        )
    elif profile.programme and peak is not None and peak > TRUE_PEAK_CEILING_DBTP:
        over = peak - TRUE_PEAK_CEILING_DBTP
        out.append(
            Finding(
                0.10 + 0.05 * over,
                f"Peaks at {peak:.1f} dBFS leave {-peak:.1f} dB headroom, above the "
                f"{TRUE_PEAK_CEILING_DBTP:.0f} dBTP ceiling for masters (the true peak between "
                f"samples is higher still): set a true-peak limiter ceiling of "
                f"{TRUE_PEAK_CEILING_DBTP:.0f} dBTP.",
                f"only {-peak:.1f} dB of headroom",
            )
        )
    elif peak is not None:
        out += headroom_findings(peak, profile)
    if profile.programme:
        out += _programme_rms(rms)
    else:
        out += rms_findings(rms, peak, profile)
    out += crest_findings(crest, profile)
    return ranked(out)


def _programme_rms(rms: float | None) -> list[Finding]:
    """RMS of a master as a rough proxy for loudness (RMS ≈ LUFS ± 2 for full mixes)."""
    if rms is None:
        return []
    lo, hi = profile_for("master").rms_range_dbfs
    if rms < lo:
        short = STREAMING_TARGET_LUFS - rms
        return [
            Finding(
                min(0.30, 0.015 * (lo - rms)),
                f"RMS {rms:.1f} dBFS puts the master around {rms:.0f} LUFS, {short:.1f} dB under "
                f"the {STREAMING_TARGET_LUFS:.0f} LUFS streaming target: raise it with a limiter "
                f"(ceiling {TRUE_PEAK_CEILING_DBTP:.0f} dBTP) rather than plain gain.",
                f"a quiet master (RMS {rms:.1f} dBFS)",
            )
        ]
    if rms > hi:
        over = rms - STREAMING_TARGET_LUFS
        return [
            Finding(
                min(0.30, 0.015 * (rms - hi)),
                f"RMS {rms:.1f} dBFS puts the master around {rms:.0f} LUFS: streaming services "
                f"will turn it down about {over:.1f} dB to {STREAMING_TARGET_LUFS:.0f} LUFS, so "
                "ease the limiter and keep the dynamics.",
                f"a very loud master (RMS {rms:.1f} dBFS)",
            )
        ]
    return []


def _all_clear(*, peak: float | None, rms: float | None, profile: TrackProfile) -> str:
    parts = []
    if peak is not None:
        parts.append(
            f"peaks at {peak:.1f} dBFS (target {profile.peak_target_dbfs:.0f} "
            f"{'dBTP' if profile.programme else 'dBFS'} or lower)"
        )
    if rms is not None:
        lo, hi = profile.rms_range_dbfs
        parts.append(f"RMS {rms:.1f} dBFS (range {lo:.0f} to {hi:.0f} dBFS)")
    return f"Levels look healthy for a {profile.label}: {' and '.join(parts)}; no change needed."


def _insights(
    *,
    track: dict[str, Any],
    profile: TrackProfile,
    peak: float | None,
    rms: float | None,
    crest: float | None,
    findings: list[Finding],
) -> str:
    name = track.get("track_name")
    subject = (
        f"{profile.label.capitalize()} '{name}'"
        if isinstance(name, str) and name
        else (f"This {profile.label}")
    )
    if track.get("muted") is True:
        subject += " (muted)"
    readings = []
    if peak is not None:
        readings.append(f"peaks at {peak:.1f} dBFS ({max(0.0, -peak):.1f} dB headroom)")
    if rms is not None:
        readings.append(f"RMS {rms:.1f} dBFS")
    if crest is not None:
        readings.append(f"crest factor {crest:.1f} dB")
    if not readings:
        return f"{subject}: no meter readings were sent, so there is nothing to judge yet."
    first = f"{subject} {', '.join(readings)}."
    real = [f for f in findings if f.penalty > 0]
    if not real:
        return f"{first} Levels are within the usual range for a {profile.label}."
    return f"{first} Main finding: {real[0].summary}."


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
