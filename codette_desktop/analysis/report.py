"""Assemble the ``analysis`` object of an ``analysis_response`` from decoded audio.

What each ``analysis_type`` measures (plus ``duration_s``, ``sample_rate``, ``channels``):

==========  ===================================================================  ========
type        fields                                                               librosa
==========  ===================================================================  ========
loudness    integrated/momentary/short-term LUFS, LRA, true peak, sample peak,   no
            RMS, crest factor, PLR
dynamic     sample/true peak, RMS, crest factor, PLR, LRA (and the integrated    no
            loudness PLR comes from), clipped samples, DC offset
spectrum    band energies, centroid, roll-off, flatness, stereo correlation,     no
            width, mono loss
quality     clipped samples, DC offset, true peak, sample peak, integrated      no
            loudness, stereo correlation, mono loss, leading/trailing silence
full        everything above plus tempo and key                                  yes
==========  ===================================================================  ========

Stereo fields need two or more channels and are left out for mono audio. A field that the
signal does not allow (the loudness of silence) is None with the reason in
``measurements["notes"][field]``; no NaN or infinity ever leaves this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import levels, loudness, spectrum, stereo
from .decode import AudioBuffer
from .metadata import ANALYSIS_TYPES, analyze_metadata, check_analysis_type
from .suggestions import Finding, audio_findings, quality_score
from .targets import profile_for

__all__ = ["ANALYSIS_TYPES", "analyze_audio", "analyze_metadata"]

_LOUDNESS = (
    "integrated_lufs",
    "momentary_max_lufs",
    "short_term_max_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
)
_LEVELS = ("sample_peak_dbfs", "rms_dbfs", "crest_factor_db")
_STEREO = ("stereo_correlation", "stereo_width", "mono_loss_db")
_SPECTRUM = ("band_energy_db", "spectral_centroid_hz", "spectral_rolloff_hz", "spectral_flatness")
_SILENCE = ("silence_leading_s", "silence_trailing_s")
_FEATURES = ("tempo_bpm", "tempo_confidence", "key", "key_confidence")
_BASE = ("duration_s", "sample_rate", "channels")

FIELDS: dict[str, tuple[str, ...]] = {
    "loudness": (*_BASE, *_LOUDNESS, *_LEVELS, "plr_db"),
    "dynamic": (
        *_BASE,
        "sample_peak_dbfs",
        "true_peak_dbtp",
        "rms_dbfs",
        "crest_factor_db",
        "integrated_lufs",
        "plr_db",
        "loudness_range_lu",
        "clipped_samples",
        "dc_offset",
    ),
    "spectrum": (*_BASE, *_SPECTRUM, *_STEREO),
    "quality": (
        *_BASE,
        "clipped_samples",
        "dc_offset",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "integrated_lufs",
        "stereo_correlation",
        "mono_loss_db",
        *_SILENCE,
    ),
    "full": (
        *_BASE,
        *_LOUDNESS,
        *_LEVELS,
        "plr_db",
        "dc_offset",
        "clipped_samples",
        *_STEREO,
        *_SPECTRUM,
        *_FEATURES,
        *_SILENCE,
    ),
}

# Decimal places per field on the wire: enough for the stated precision, no float noise.
_DECIMALS: dict[str, int] = {
    "duration_s": 3,
    "dc_offset": 6,
    "stereo_correlation": 4,
    "stereo_width": 4,
    "spectral_centroid_hz": 1,
    "spectral_rolloff_hz": 1,
    "spectral_flatness": 4,
    "tempo_bpm": 2,
    "tempo_confidence": 3,
    "key_confidence": 3,
    "silence_leading_s": 3,
    "silence_trailing_s": 3,
}
_DEFAULT_DECIMALS = 2


def analyze_audio(
    buffer: AudioBuffer, *, track: dict[str, Any], analysis_type: str = "full"
) -> dict[str, Any]:
    """The ``analysis`` object (PROTOCOL.md ``analysis_response``) for decoded audio.

    Raises :class:`~codette_desktop.errors.AnalysisError` (``invalid_field``,
    field ``analysis_type``) for an unknown type.
    """
    check_analysis_type(analysis_type)
    wanted = FIELDS[analysis_type]
    x, rate = buffer.samples, buffer.sample_rate
    values: dict[str, Any] = {
        "duration_s": buffer.duration_s,
        "sample_rate": rate,
        "channels": buffer.channels,
    }
    notes: dict[str, str] = {}

    def need(*fields: str) -> bool:
        return any(f in wanted for f in fields)

    if not need(*_FEATURES):
        _measure(buffer, need=need, values=values, notes=notes)
    else:
        # Deferred import: features pulls in librosa only when called, but keep even the
        # module out of the server process's startup path.
        from .features import tempo_and_key

        # Tempo/key (librosa) and the rest are independent and both spend their time in
        # numpy/scipy code that releases the GIL: overlapping them cuts the wall time of a
        # full analysis by about a third on two cores.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="codette-features") as pool:
            future = pool.submit(tempo_and_key, samples=x, sample_rate=rate)
            _measure(buffer, need=need, values=values, notes=notes)
            features, why = future.result()
        values.update(features)
        notes.update(why)

    measurements = {k: values[k] for k in wanted if k in values}
    measurements = json_safe(measurements, notes=notes)
    measurements["notes"] = {k: v for k, v in notes.items() if k.split(".", 1)[0] in measurements}
    findings = audio_findings(
        measurements,
        track_type=track.get("track_type"),
        peak_dbfs=levels.amplitude_db(levels.sample_peak(samples=x)),
    )
    return {
        "analysis_type": analysis_type,
        "codette_insights": _insights(track=track, m=measurements, findings=findings),
        "mixing_suggestions": _suggestion_list(findings, m=measurements),
        "quality_score": quality_score(findings),
        "measurements": measurements,
    }


def _measure(
    buffer: AudioBuffer,
    *,
    need: Callable[..., bool],
    values: dict[str, Any],
    notes: dict[str, str],
) -> None:
    """Every non-librosa measurement ``need`` asks for, into ``values`` and ``notes``."""
    x, rate = buffer.samples, buffer.sample_rate
    if need(*_LOUDNESS, "plr_db"):
        result = loudness.loudness_measurements(x, rate)
        notes.update(result.pop("notes", {}))
        values.update(result)
    if need(*_LEVELS):
        found, why = levels.level_measurements(samples=x)
        values.update(found)
        notes.update(why)
    if need("plr_db"):
        tp, integrated = values.get("true_peak_dbtp"), values.get("integrated_lufs")
        if tp is None or integrated is None:
            values["plr_db"] = None
            notes["plr_db"] = "needs both the true peak and the integrated loudness"
        else:
            values["plr_db"] = tp - integrated
    if need("dc_offset"):
        values["dc_offset"] = levels.dc_offset(samples=x)
    if need("clipped_samples"):
        values["clipped_samples"] = levels.clipped_sample_count(samples=x)
    if need(*_STEREO) and buffer.channels >= 2:
        found, why = stereo.stereo_measurements(samples=x)
        values.update(found)
        notes.update(why)
    if need(*_SPECTRUM):
        spec, why = spectrum.spectrum_measurements(samples=x, sample_rate=rate)
        values.update(spec)
        notes.update(why)
    if need(*_SILENCE):
        values["silence_leading_s"], values["silence_trailing_s"] = levels.silence_bounds(
            samples=x, sample_rate=rate
        )


def json_safe(values: Mapping[str, Any], *, notes: dict[str, str]) -> dict[str, Any]:
    """Round floats per field and turn numpy scalars, NaN and infinities into JSON values.

    A non-finite number becomes None and gets a note, so the reply always encodes with
    ``json.dumps(..., allow_nan=False)``.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = _clean(value, key=key, notes=notes)
    return out


def _clean(value: Any, *, key: str, notes: dict[str, str]) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v, key=f"{key}.{k}", notes=notes) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_clean(v, key=key, notes=notes) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            notes.setdefault(key, "not a finite number")
            return None
        decimals = _DECIMALS.get(key.split(".", 1)[0], _DEFAULT_DECIMALS)
        return round(number, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return value


def _suggestion_list(findings: list[Finding], *, m: Mapping[str, Any]) -> list[str]:
    suggestions = [f.suggestion for f in findings]
    if not any(f.penalty > 0 for f in findings):
        suggestions.insert(0, _all_clear(m))
    return suggestions


def _all_clear(m: Mapping[str, Any]) -> str:
    """Name the numbers that were checked when nothing needs fixing."""
    checks = []
    if isinstance(m.get("true_peak_dbtp"), float):
        checks.append(f"true peak {m['true_peak_dbtp']:+.1f} dBTP (≤ -1 dBTP)")
    if isinstance(m.get("plr_db"), float):
        checks.append(f"PLR {m['plr_db']:.1f} dB (≥ 8 dB)")
    if m.get("clipped_samples") == 0:
        checks.append("no clipped samples")
    if isinstance(m.get("stereo_correlation"), float):
        checks.append(f"correlation {m['stereo_correlation']:+.2f} (≥ 0)")
    if isinstance(m.get("mono_loss_db"), float):
        checks.append(f"mono loss {m['mono_loss_db']:.1f} dB (≤ 3 dB)")
    if isinstance(m.get("sample_peak_dbfs"), float):
        checks.append(f"peak {m['sample_peak_dbfs']:.1f} dBFS")
    detail = ", ".join(checks) if checks else "every measured value is within its target"
    return f"Nothing to fix: {detail}."


def _insights(*, track: Mapping[str, Any], m: Mapping[str, Any], findings: list[Finding]) -> str:
    profile = profile_for(track.get("track_type"))
    name = track.get("track_name")
    subject = (
        f"{profile.label.capitalize()} '{name}'"
        if isinstance(name, str) and name
        else f"This {profile.label}"
    )
    facts = []
    if isinstance(m.get("integrated_lufs"), float):
        facts.append(f"{m['integrated_lufs']:.1f} LUFS integrated")
    elif isinstance(m.get("rms_dbfs"), float):
        facts.append(f"RMS {m['rms_dbfs']:.1f} dBFS")
    if isinstance(m.get("true_peak_dbtp"), float):
        facts.append(f"true peak {m['true_peak_dbtp']:+.1f} dBTP")
    elif isinstance(m.get("sample_peak_dbfs"), float):
        facts.append(f"peak {m['sample_peak_dbfs']:.1f} dBFS")
    if isinstance(m.get("plr_db"), float):
        facts.append(f"PLR {m['plr_db']:.1f} dB")
    if isinstance(m.get("tempo_bpm"), float) and (m.get("tempo_confidence") or 0) >= 0.3:
        facts.append(f"{m['tempo_bpm']:.1f} BPM")
    if isinstance(m.get("key"), str) and (m.get("key_confidence") or 0) >= 0.3:
        facts.append(f"in {m['key']}")
    if isinstance(m.get("spectral_centroid_hz"), float) and len(facts) < 2:
        facts.append(f"spectral centroid {m['spectral_centroid_hz']:.0f} Hz")
    if isinstance(m.get("stereo_correlation"), float) and len(facts) < 3:
        facts.append(f"stereo correlation {m['stereo_correlation']:+.2f}")
    duration = m.get("duration_s")
    length = f" ({duration:.1f} s)" if isinstance(duration, float) else ""
    first = (
        f"{subject}{length}: {', '.join(facts)}." if facts else f"{subject}{length} was analysed."
    )
    real = [f for f in findings if f.penalty > 0]
    if not real:
        return f"{first} No problems found for a {profile.label}."
    extra = f" Also: {real[1].summary}." if len(real) > 1 else ""
    return f"{first} Main finding: {real[0].summary}.{extra}"
