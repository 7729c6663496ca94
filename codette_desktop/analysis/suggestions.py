"""Mixing suggestions and the quality score, derived from measurements.

Each rule looks at the measurements it needs (absent or None → the rule is skipped) and
may produce a :class:`Finding`: a suggestion that names the measured value and the target,
a short summary for ``codette_insights``, and a penalty. Suggestions are listed most
serious first.

``quality_score`` = clamp(1.0 − Σ penalties, 0, 1), rounded to 0.01. Penalties (audio):

=============================================  ==============================================
condition                                      penalty
=============================================  ==============================================
sample peak below -60 dBFS (silent)            1.0
clipped samples (runs ≥ 2 at full scale) > 0   0.15 + 0.05 · log10(count), at most 0.35
programme: true peak > -1 dBTP                 0.10 + 0.05 per dB over, at most 0.25
track: sample peak above its target (-6 dBFS)  0.03 per dB over, at most 0.20
                                               (+0.10 if the peak is at/above -0.1 dBFS)
|DC offset| > 0.001 FS                         0.05 (0.10 above 0.01)
PLR < profile minimum (master 8 dB)            0.03 per dB under, at most 0.20
track: crest factor < profile minimum          0.03 per dB under, at most 0.15
stereo correlation < 0                         0.05 + 0.25 · |correlation|, at most 0.30
mono loss > 3 dB                               0.03 per dB over 3, at most 0.20
programme: integrated > 4 LU from -14 LUFS     0.02 per LU beyond 4, at most 0.15
track: RMS outside the type's range            0.015 per dB outside, at most 0.30
band balance rule for the track type           0.03 – 0.05 each
leading / trailing silence > 0.5 s             0.02 each
=============================================  ==============================================

Metadata-only requests use the peak/RMS/crest rows (see :mod:`.metadata`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .targets import (
    APPLE_TARGET_LUFS,
    EBU_R128_TARGET_LUFS,
    SPOTIFY_UP_LIMIT_DBTP,
    STREAMING_TARGET_LUFS,
    TRUE_PEAK_CEILING_DBTP,
    TrackProfile,
    profile_for,
    track_kind,
)

DC_OFFSET_LIMIT = 0.001
MONO_LOSS_LIMIT_DB = 3.0
SILENCE_TRIM_S = 0.5
SILENCE_DBFS = -60.0  # the same threshold as the leading/trailing silence measure
STREAMING_TOLERANCE_LU = 4.0
_AT_TARGET_LU = 0.5  # closer than this, a platform's gain change is inaudible


@dataclass(frozen=True)
class Finding:
    """One observation: ``suggestion`` for the user, ``summary`` for the insights line."""

    penalty: float
    suggestion: str
    summary: str


def quality_score(findings: Sequence[Finding]) -> float:
    """1.0 minus the findings' penalties, clamped to 0..1 and rounded to 0.01."""
    score = 1.0 - sum(f.penalty for f in findings)
    return round(min(1.0, max(0.0, score)), 2)


def ranked(findings: Sequence[Finding]) -> list[Finding]:
    """Most serious first (stable for equal penalties)."""
    return sorted(findings, key=lambda f: -f.penalty)


def audio_findings(
    measurements: Mapping[str, Any], *, track_type: object, peak_dbfs: float | None
) -> list[Finding]:
    """Every rule that applies to measured audio, most serious first.

    ``peak_dbfs`` is the sample peak of the whole file (None for digital silence), passed
    separately because not every analysis type reports it but every one must notice that
    there is nothing to analyse.
    """
    profile = profile_for(track_type)
    m = measurements
    if peak_dbfs is None:
        return [
            Finding(
                1.0,
                "The audio is digital silence: check the track is armed, "
                "unmuted and routed before analysing it.",
                "the audio is silent",
            )
        ]
    if peak_dbfs < SILENCE_DBFS:
        return [
            Finding(
                1.0,
                f"The audio peaks at {peak_dbfs:.1f} dBFS, below -60 dBFS: it is effectively "
                "silent; check the routing and the gain.",
                "the audio is silent",
            )
        ]
    findings: list[Finding] = []
    peak = _num(m, "sample_peak_dbfs")
    leading, trailing = _num(m, "silence_leading_s"), _num(m, "silence_trailing_s")
    findings += _clipping(m)
    if profile.programme:
        findings += _true_peak(m)
    else:
        findings += _track_headroom(peak, profile)
    findings += _dc(m)
    findings += _dynamics(m, profile)
    findings += _stereo(m)
    if profile.programme:
        findings += _programme_loudness(m)
    else:
        findings += _track_rms(_num(m, "rms_dbfs"), peak, profile)
    findings += _band_balance(m, track_kind(track_type), profile)
    findings += _silence(leading, trailing)
    return ranked(findings)


def platform_suggestions(*, integrated_lufs: float, true_peak_dbtp: float | None) -> list[str]:
    """What each streaming service / broadcast will do to a master at ``integrated_lufs``.

    Gain = target − integrated. Spotify raises quiet tracks only until the true peak
    reaches -1 dBTP; YouTube never raises them.
    """
    i = integrated_lufs
    gain = STREAMING_TARGET_LUFS - i
    out: list[str] = []
    if abs(gain) < _AT_TARGET_LU:
        out.append(
            f"Spotify, YouTube, Tidal and Amazon Music: {i:.1f} LUFS is already at their "
            f"{STREAMING_TARGET_LUFS:.0f} LUFS target, so they will play it almost unchanged."
        )
    elif gain < 0:
        out.append(
            f"Spotify will turn it down {-gain:.1f} dB ({i:.1f} → {STREAMING_TARGET_LUFS:.0f} "
            "LUFS); YouTube, Tidal and Amazon Music do the same, so the extra loudness only "
            "costs dynamics."
        )
    else:
        allowed = (
            gain if true_peak_dbtp is None else max(0.0, SPOTIFY_UP_LIMIT_DBTP - true_peak_dbtp)
        )
        applied = min(gain, allowed)
        if applied < gain - 0.05:
            out.append(
                f"Spotify will turn it up only {applied:.1f} dB of the {gain:.1f} dB needed "
                f"({i:.1f} → {i + applied:.1f} LUFS, target {STREAMING_TARGET_LUFS:.0f}): it "
                f"stops when the true peak ({true_peak_dbtp:+.1f} dBTP) reaches "
                f"{SPOTIFY_UP_LIMIT_DBTP:.0f} dBTP. Limit to a -1 dBTP ceiling and raise the "
                f"level {gain:.1f} dB to reach {STREAMING_TARGET_LUFS:.0f} LUFS yourself."
            )
        else:
            out.append(
                f"Spotify will turn it up {gain:.1f} dB ({i:.1f} → "
                f"{STREAMING_TARGET_LUFS:.0f} LUFS)."
            )
        out.append(
            f"YouTube never turns quiet uploads up: at {i:.1f} LUFS it will play {gain:.1f} dB "
            f"below {STREAMING_TARGET_LUFS:.0f} LUFS material (Tidal and Amazon Music also "
            f"target {STREAMING_TARGET_LUFS:.0f} LUFS)."
        )
    apple = APPLE_TARGET_LUFS - i
    if abs(apple) < _AT_TARGET_LU:
        out.append(
            f"Apple Music (Sound Check, {APPLE_TARGET_LUFS:.0f} LUFS): {i:.1f} LUFS is "
            "already on target."
        )
    else:
        verb = "down" if apple < 0 else "up"
        out.append(
            f"Apple Music (Sound Check) will turn it {verb} {abs(apple):.1f} dB "
            f"({i:.1f} → {APPLE_TARGET_LUFS:.0f} LUFS)."
        )
    ebu = EBU_R128_TARGET_LUFS - i
    out.append(
        f"For broadcast (EBU R128: {EBU_R128_TARGET_LUFS:.0f} LUFS, max "
        f"{TRUE_PEAK_CEILING_DBTP:.0f} dBTP) apply {ebu:+.1f} dB ({i:.1f} → "
        f"{EBU_R128_TARGET_LUFS:.0f} LUFS)."
    )
    return out


def headroom_findings(peak_dbfs: float | None, profile: TrackProfile) -> list[Finding]:
    """Headroom judgement for a track's sample peak (shared with metadata analysis)."""
    return _track_headroom(peak_dbfs, profile)


def rms_findings(
    rms_dbfs: float | None, peak_dbfs: float | None, profile: TrackProfile
) -> list[Finding]:
    """RMS judgement against the profile's range (shared with metadata analysis)."""
    return _track_rms(rms_dbfs, peak_dbfs, profile)


def crest_findings(crest_db: float | None, profile: TrackProfile) -> list[Finding]:
    """Crest-factor judgement (shared with metadata analysis)."""
    if crest_db is None or crest_db >= profile.min_crest_db:
        return []
    short = profile.min_crest_db - crest_db
    return [
        Finding(
            min(0.15, 0.03 * short),
            f"Crest factor {crest_db:.1f} dB (peak − RMS) is below the {profile.min_crest_db:.0f} "
            f"dB a {profile.label} needs to keep its punch: ease the compressor/limiter by "
            f"about {short:.1f} dB of gain reduction.",
            f"a squashed crest factor of {crest_db:.1f} dB",
        )
    ]


# --- rules -------------------------------------------------------------------------------


def _clipping(m: Mapping[str, Any]) -> list[Finding]:
    count = m.get("clipped_samples")
    if not isinstance(count, int) or count <= 0:
        return []
    return [
        Finding(
            min(0.35, 0.15 + 0.05 * math.log10(count)),
            f"{count} clipped samples (runs of 2 or more at full scale; target 0): lower the "
            "gain feeding the clip point, or re-render the bounce below 0 dBFS.",
            f"{count} clipped samples",
        )
    ]


def _true_peak(m: Mapping[str, Any]) -> list[Finding]:
    tp = _num(m, "true_peak_dbtp")
    if tp is None or tp <= TRUE_PEAK_CEILING_DBTP:
        return []
    over = tp - TRUE_PEAK_CEILING_DBTP
    return [
        Finding(
            min(0.25, 0.10 + 0.05 * over),
            f"True peak {tp:+.1f} dBTP is {over:.1f} dB above the {TRUE_PEAK_CEILING_DBTP:.0f} "
            "dBTP ceiling streaming services ask for: set a true-peak limiter's ceiling to "
            f"{TRUE_PEAK_CEILING_DBTP:.0f} dBTP, or lossy encoding will clip.",
            f"true peak at {tp:+.1f} dBTP",
        )
    ]


def _track_headroom(peak: float | None, profile: TrackProfile) -> list[Finding]:
    if peak is None or profile.programme:
        return []
    target = profile.peak_target_dbfs
    headroom = -peak
    if peak <= target:
        return []
    over = peak - target
    penalty = min(0.20, 0.03 * over) + (0.10 if peak >= -0.1 else 0.0)
    return [
        Finding(
            penalty,
            f"Peaks at {peak:.1f} dBFS leave {max(0.0, headroom):.1f} dB headroom; aim for "
            f"{target:.0f} dBFS on a {profile.label}: pull it down {over:.1f} dB "
            "(clip gain or the fader before any plug-ins).",
            f"only {max(0.0, headroom):.1f} dB of headroom",
        )
    ]


def _track_rms(rms: float | None, peak: float | None, profile: TrackProfile) -> list[Finding]:
    if rms is None or profile.programme:
        return []
    lo, hi = profile.rms_range_dbfs
    if rms < lo:
        short = lo - rms
        room = None if peak is None else profile.peak_target_dbfs - peak
        how = (
            f"raise it about {short:.1f} dB"
            if room is None or room >= short
            else f"raise it about {short:.1f} dB with gentle compression (plain gain would push "
            f"the peaks past {profile.peak_target_dbfs:.0f} dBFS)"
        )
        return [
            Finding(
                min(0.30, 0.015 * short),
                f"RMS {rms:.1f} dBFS is below the {lo:.0f} to {hi:.0f} dBFS range typical for a "
                f"{profile.label}: {how}.",
                f"a low level (RMS {rms:.1f} dBFS)",
            )
        ]
    if rms > hi:
        over = rms - hi
        return [
            Finding(
                min(0.30, 0.015 * over),
                f"RMS {rms:.1f} dBFS is above the {lo:.0f} to {hi:.0f} dBFS range typical for a "
                f"{profile.label}: bring it down about {over:.1f} dB to keep mix-bus headroom.",
                f"a hot level (RMS {rms:.1f} dBFS)",
            )
        ]
    return []


def _dc(m: Mapping[str, Any]) -> list[Finding]:
    dc = _num(m, "dc_offset")
    if dc is None or abs(dc) <= DC_OFFSET_LIMIT:
        return []
    return [
        Finding(
            0.10 if abs(dc) > 0.01 else 0.05,
            f"DC offset {dc:+.4f} (full scale; keep within ±{DC_OFFSET_LIMIT}): high-pass at "
            "about 20 Hz to remove it, or it eats headroom and clicks at edits.",
            f"a DC offset of {dc:+.4f}",
        )
    ]


def _dynamics(m: Mapping[str, Any], profile: TrackProfile) -> list[Finding]:
    plr = _num(m, "plr_db")
    if profile.programme:
        if plr is None or plr >= profile.min_plr_db:
            return []
        short = profile.min_plr_db - plr
        return [
            Finding(
                min(0.20, 0.03 * short),
                f"PLR {plr:.1f} dB (true peak − integrated loudness) is under "
                f"{profile.min_plr_db:.0f} dB: the master is over-limited. Back the limiter off "
                f"about {short:.1f} dB; after streaming normalisation it will sound bigger.",
                f"over-limiting (PLR {plr:.1f} dB)",
            )
        ]
    return crest_findings(_num(m, "crest_factor_db"), profile)


def _stereo(m: Mapping[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    corr = _num(m, "stereo_correlation")
    if corr is not None and corr < 0.0:
        out.append(
            Finding(
                min(0.30, 0.05 + 0.25 * abs(corr)),
                f"Stereo correlation {corr:+.2f} is below 0: left and right are partly out of "
                "phase. Check polarity on stereo-miked sources and tame stereo wideners "
                "(aim for 0 to +1).",
                f"negative stereo correlation ({corr:+.2f})",
            )
        )
    loss = _num(m, "mono_loss_db")
    if loss is not None and loss > MONO_LOSS_LIMIT_DB:
        out.append(
            Finding(
                min(0.20, 0.03 * (loss - MONO_LOSS_LIMIT_DB)),
                f"Folding to mono loses {loss:.1f} dB (more than {MONO_LOSS_LIMIT_DB:.0f} dB): "
                "phone and club speakers will lose parts of it. Keep low end and lead elements "
                "centred and narrow wide effects.",
                f"{loss:.1f} dB lost in mono",
            )
        )
    return out


def _programme_loudness(m: Mapping[str, Any]) -> list[Finding]:
    integrated = _num(m, "integrated_lufs")
    if integrated is None:
        return []
    distance = abs(integrated - STREAMING_TARGET_LUFS)
    penalty = min(0.15, 0.02 * max(0.0, distance - STREAMING_TOLERANCE_LU))
    tp = _num(m, "true_peak_dbtp")
    platforms = platform_suggestions(integrated_lufs=integrated, true_peak_dbtp=tp)
    summary = (
        f"{integrated:.1f} LUFS, {distance:.1f} LU from the "
        f"{STREAMING_TARGET_LUFS:.0f} LUFS streaming target"
    )
    # The first platform line carries the penalty; the rest are information.
    out = [Finding(penalty, platforms[0], summary)]
    out += [Finding(0.0, text, summary) for text in platforms[1:]]
    return out


def _band_balance(m: Mapping[str, Any], kind: str, profile: TrackProfile) -> list[Finding]:
    bands = m.get("band_energy_db")
    if not isinstance(bands, Mapping):
        return []

    def band(name: str) -> float | None:
        value = bands.get(name)
        return float(value) if isinstance(value, int | float) else None

    sub, low, high_mid, air = band("sub"), band("low"), band("high_mid"), band("air")
    out: list[Finding] = []
    if kind == "vocal":
        if sub is not None and sub > -25.0:
            out.append(
                Finding(
                    0.05,
                    f"This vocal has {sub:.1f} dB of its energy in the sub band (20–60 Hz; aim "
                    "below -25 dB): high-pass it at 80–100 Hz to clear rumble and plosives.",
                    f"sub energy in a vocal ({sub:.1f} dB)",
                )
            )
        if high_mid is not None and high_mid > -8.0:
            out.append(
                Finding(
                    0.04,
                    f"The 2–4 kHz band carries {high_mid:.1f} dB of the vocal's energy (aim below "
                    "-8 dB): it may sound harsh; try a dynamic EQ or de-esser around 2.5–4 kHz.",
                    f"harsh upper mids ({high_mid:.1f} dB)",
                )
            )
    elif kind == "bass":
        low_total = _db_sum(sub, low)
        if low_total is not None and low_total < -3.0:
            out.append(
                Finding(
                    0.05,
                    f"Only {low_total:.1f} dB of this bass's energy is below 250 Hz (aim above "
                    "-3 dB, i.e. at least half): it lacks low end; boost 60–120 Hz or check the "
                    "amp/DI blend.",
                    f"a bass lacking low end ({low_total:.1f} dB below 250 Hz)",
                )
            )
    elif profile.programme:
        if sub is not None and sub > -8.0:
            out.append(
                Finding(
                    0.04,
                    f"The sub band (20–60 Hz) holds {sub:.1f} dB of the mix's energy (pink noise "
                    "reads -8 dB): it will eat limiter headroom; high-pass non-bass tracks and "
                    "check the kick/bass below 40 Hz.",
                    f"heavy sub ({sub:.1f} dB)",
                )
            )
        if high_mid is not None and high_mid > -10.0:
            out.append(
                Finding(
                    0.04,
                    f"The 2–4 kHz band holds {high_mid:.1f} dB of the mix's energy (aim below "
                    "-10 dB): it may sound harsh at volume; look for the loudest source there.",
                    f"harsh upper mids ({high_mid:.1f} dB)",
                )
            )
        if air is not None and air < -35.0:
            out.append(
                Finding(
                    0.03,
                    f"The air band (6–20 kHz) is at {air:.1f} dB of the total (aim above -35 dB): "
                    "the mix may sound dull; a gentle high shelf from ~8 kHz can open it up.",
                    f"a dull top end ({air:.1f} dB air)",
                )
            )
    elif kind != "drums" and sub is not None and sub > -20.0:
        out.append(
            Finding(
                0.03,
                f"{sub:.1f} dB of this {profile.label}'s energy sits in the sub band (20–60 Hz; "
                "aim below -20 dB): high-pass around 40–80 Hz so it does not cloud the kick and "
                "bass.",
                f"sub rumble ({sub:.1f} dB)",
            )
        )
    return out


def _silence(leading: float | None, trailing: float | None) -> list[Finding]:
    out: list[Finding] = []
    for where, value in (("leading", leading), ("trailing", trailing)):
        if value is not None and value > SILENCE_TRIM_S:
            out.append(
                Finding(
                    0.02,
                    f"Trim {value:.2f} s of {where} silence (below -60 dBFS; keep it under "
                    f"{SILENCE_TRIM_S} s).",
                    f"{value:.2f} s of {where} silence",
                )
            )
    return out


def _db_sum(*values: float | None) -> float | None:
    """Sum of relative band energies given in dB, in dB (None if any is missing)."""
    if any(v is None for v in values):
        return None
    return 10.0 * math.log10(sum(10.0 ** (v / 10.0) for v in values if v is not None))


def _num(m: Mapping[str, Any], key: str) -> float | None:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
