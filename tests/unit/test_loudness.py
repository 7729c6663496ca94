"""Known-answer tests for codette_desktop.analysis.loudness.

The EBU publishes its test signals as WAV files (the "EBU loudness test set"); we do not
ship them, so every case is synthesised here from its definition in EBU Tech 3341 (2016,
Table 1 for loudness, the true-peak cases 15-19) and EBU Tech 3342 (2016, Table 1), and
checked with the tolerances those documents give. Signals are parametrised over 44.1, 48
and 96 kHz: the meter must not depend on the rate.

"-23 dBFS" for a stereo sine means the peak amplitude of each channel, which is how the
EBU defines its tones: a 1 kHz stereo sine at -23 dBFS reads -23.0 LUFS.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from codette_desktop.analysis.loudness import (
    StreamingLoudnessMeter,
    block_loudness,
    channel_weights,
    integrated_loudness,
    k_weighting_sos,
    loudness_measurements,
    loudness_range,
    true_peak,
)
from codette_desktop.errors import AnalysisError

RATES = [44_100, 48_000, 96_000]


def tone(
    parts: list[tuple[float, float]],
    rate: int,
    *,
    channels: int = 2,
    frequency: float = 1000.0,
) -> np.ndarray:
    """A sine whose level steps through ``parts`` = [(dBFS peak, seconds), ...].

    The phase runs on across the steps (only the amplitude changes), as in the EBU files.
    Returns shape ``(frames, channels)``, every channel identical.
    """
    lengths = [round(seconds * rate) for _, seconds in parts]
    amplitude = np.repeat([10.0 ** (dbfs / 20.0) for dbfs, _ in parts], lengths)
    wave = amplitude * np.sin(2.0 * np.pi * frequency * np.arange(amplitude.size) / rate)
    return np.repeat(wave[:, np.newaxis], channels, axis=1)


def db(linear: float) -> float:
    return 20.0 * math.log10(linear)


# ------------------------------------------------------------------ K-weighting filter

# ITU-R BS.1770-4 Annex 1, Table 1 (pre-filter) and Table 2 (RLB high-pass) at 48 kHz.
BS1770_SHELF_48K = [1.53512485958697, -2.69169618940638, 1.19839281085285,
                    1.0, -1.69065929318241, 0.73248077421585]  # fmt: skip
BS1770_HIGHPASS_48K = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]


def test_k_weighting_reproduces_the_bs1770_table_at_48k() -> None:
    sos = k_weighting_sos(48_000)
    assert sos.shape == (2, 6)
    normalised = sos / sos[:, 3:4]  # a0 = 1 in the table
    np.testing.assert_allclose(normalised[0], BS1770_SHELF_48K, rtol=0, atol=1e-9)
    np.testing.assert_allclose(normalised[1], BS1770_HIGHPASS_48K, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("rate", "tolerance_db"),
    [
        (8_000, 0.25),
        (22_050, 0.03),
        (32_000, 0.01),
        (44_100, 0.01),
        (96_000, 0.01),
        (192_000, 0.01),
    ],
)
def test_k_weighting_response_does_not_depend_on_the_rate(rate: int, tolerance_db: float) -> None:
    """The same analogue filter at every rate: within 0.01 dB of the 48 kHz response from
    32 kHz up, at every frequency below 0.45 of the lower Nyquist frequency.

    Below 32 kHz the bilinear transform's frequency warping bends the 1.7 kHz shelf (a
    biquad cannot follow it close to Nyquist): 0.03 dB at 22.05 kHz, 0.2 dB at 8 kHz —
    a known limit, pinned here so that it cannot grow unnoticed."""
    freqs = np.array([20.0, 38.0, 100.0, 500.0, 1000.0, 1682.0, 3000.0, 8000.0, 15000.0])
    freqs = freqs[freqs <= 0.45 * min(rate, 48_000) / 2]
    _, ours = signal.sosfreqz(k_weighting_sos(rate), worN=freqs, fs=rate)
    _, reference = signal.sosfreqz(k_weighting_sos(48_000), worN=freqs, fs=48_000)
    np.testing.assert_allclose(
        20 * np.log10(np.abs(ours)), 20 * np.log10(np.abs(reference)), atol=tolerance_db
    )


def test_k_weighting_shape_at_48k() -> None:
    """BS.1770-4 Fig. 1/2: ~+0.7 dB at 1 kHz (what the -0.691 offset cancels), the +4 dB
    shelf above ~5 kHz, and the RLB high-pass at -6.0 dB at its 38.1 Hz corner (Q = 0.5
    means |H(f0)| = Q) and -14 dB an octave below."""
    freqs = [19.07, 38.135, 1000.0, 10_000.0]
    _, response = signal.sosfreqz(k_weighting_sos(48_000), worN=freqs, fs=48_000)
    gain = 20 * np.log10(np.abs(response))
    assert gain[1] == pytest.approx(-6.0, abs=0.1)
    # One octave down: (1/4) / |1 - 1/4 + j (1/2) / Q| = 0.2, i.e. -14.0 dB.
    assert gain[0] == pytest.approx(-13.98, abs=0.1)
    assert gain[2] == pytest.approx(0.69, abs=0.02)
    assert gain[3] == pytest.approx(4.0, abs=0.1)


# ------------------------------------------------------------------ channel weights


def test_channel_weights_follow_bs1770_table_3() -> None:
    np.testing.assert_array_equal(channel_weights(1), [1.0])
    np.testing.assert_array_equal(channel_weights(2), [1.0, 1.0])
    np.testing.assert_array_equal(channel_weights(5), [1.0, 1.0, 1.0, 1.41, 1.41])
    # 5.1 in WAVE order L R C LFE Ls Rs: the LFE is not part of the loudness.
    np.testing.assert_array_equal(channel_weights(6), [1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    assert channel_weights(8)[3] == 0.0
    with pytest.raises(AnalysisError):
        channel_weights(0)


# ------------------------------------------------------------------ EBU Tech 3341, Table 1

# (case, [(dBFS, seconds), ...]) for the stereo 1 kHz cases of Tech 3341 Table 1 whose
# expected integrated loudness is -23.0 ±0.1 LUFS.
TECH3341_INTEGRATED = [
    ("case 1", [(-23.0, 20.0)], -23.0),
    ("case 2", [(-33.0, 20.0)], -33.0),
    # Case 3: the quiet ends fall under the relative gate (-10 LU).
    ("case 3", [(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    # Case 4: -72 dBFS is under the absolute gate (-70 LUFS), -36 under the relative one.
    ("case 4", [(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    # Case 5: everything passes the gates; the energy mean of the three parts is -23.
    ("case 5", [(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    ("case", "parts", "expected"), TECH3341_INTEGRATED, ids=[c[0] for c in TECH3341_INTEGRATED]
)
def test_tech3341_integrated_loudness(
    case: str, parts: list[tuple[float, float]], expected: float, rate: int
) -> None:
    """EBU Tech 3341 Table 1, cases 1-5: stereo 1 kHz sine sequences, I = expected ±0.1."""
    assert integrated_loudness(tone(parts, rate), rate) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_tech3341_cases_1_and_2_momentary_and_short_term(level: float, rate: int) -> None:
    """EBU Tech 3341 cases 1 and 2: a steady 20 s stereo 1 kHz sine at -23 (-33) dBFS
    reads M, S and I = -23.0 (-33.0) ±0.1 — every momentary and short-term value, not only
    the maxima, and through loudness_measurements as well as block_loudness."""
    samples = tone([(level, 20.0)], rate)
    momentary = block_loudness(samples, rate, block_s=0.4, hop_s=0.1)
    short_term = block_loudness(samples, rate, block_s=3.0, hop_s=0.1)
    assert momentary.size == 197 and short_term.size == 171  # complete blocks at 10 Hz
    np.testing.assert_allclose(momentary, level, atol=0.1)
    np.testing.assert_allclose(short_term, level, atol=0.1)
    report = loudness_measurements(samples, rate)
    for field in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs"):
        assert report[field] == pytest.approx(level, abs=0.1), field
    assert report["loudness_range_lu"] == pytest.approx(0.0, abs=0.1)
    assert report["notes"] == {}


@pytest.mark.parametrize("rate", RATES)
def test_tech3341_case_6_five_channels(rate: int) -> None:
    """EBU Tech 3341 case 6: 5.0 (L R C Ls Rs) 1 kHz sines at -28, -28, -24, -30, -30 dBFS
    read -23.0 ±0.1 LUFS (the surrounds weighted +1.5 dB). The same programme as 5.1 with a
    loud LFE reads the same, because the LFE is excluded."""
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]
    five = np.hstack([tone([(lv, 20.0)], rate, channels=1) for lv in levels])
    assert integrated_loudness(five, rate) == pytest.approx(-23.0, abs=0.1)
    lfe = tone([(-6.0, 20.0)], rate, channels=1, frequency=60.0)
    six = np.hstack([five[:, :3], lfe, five[:, 3:]])
    assert integrated_loudness(six, rate) == pytest.approx(
        integrated_loudness(five, rate), abs=1e-9
    )


@pytest.mark.parametrize("rate", RATES)
def test_tech3341_case_9_short_term_is_constant(rate: int) -> None:
    """EBU Tech 3341 case 9: stereo 1 kHz, 1.34 s at -20 dBFS then 1.66 s at -30 dBFS,
    five times (15 s). Every 3 s window holds exactly one period, so S = -23.0 ±0.1 LUFS
    at every update after the first 3 s.

    (The durations follow from the target: (1.34 * 10^-2 + 1.66 * 10^-3) / 3 s is
    -23.0 dB; the reverse order, 1.66 s loud and 1.34 s quiet, would be -22.2.) We also
    evaluate S at 100 Hz, not only 10 Hz, to show it is independent of block alignment.
    """
    samples = tone([(-20.0, 1.34), (-30.0, 1.66)] * 5, rate)
    for hop in (0.1, 0.01):
        short_term = block_loudness(samples, rate, block_s=3.0, hop_s=hop)
        assert short_term.size > 0
        np.testing.assert_allclose(short_term, -23.0, atol=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_tech3341_case_12_momentary_is_constant(rate: int) -> None:
    """EBU Tech 3341 case 12 (momentary counterpart of case 9): stereo 1 kHz, 0.18 s at
    -20 dBFS then 0.22 s at -30 dBFS, repeated 25 times (10 s). Every 400 ms window holds
    one period, (0.18 * 10^-2 + 0.22 * 10^-3) / 0.4 s = -22.97 dB, so M = -23.0 ±0.1 LUFS
    after the first 400 ms — at 10 Hz and at 100 Hz updates.

    Synthesised from that definition (our reading of the 2016 table); if the published
    file differs in detail, the physics checked here — the momentary meter integrates
    exactly 400 ms of K-weighted power — is the same.
    """
    samples = tone([(-20.0, 0.18), (-30.0, 0.22)] * 25, rate)
    for hop in (0.1, 0.01):
        momentary = block_loudness(samples, rate, block_s=0.4, hop_s=hop)
        assert momentary.size > 0
        np.testing.assert_allclose(momentary, -23.0, atol=0.1)


# ------------------------------------------------------------------ true peak (Tech 3341)


def sine_at(
    rate: int, cycles_per_sample: float, amplitude: float, phase: float, seconds: float = 1.0
) -> np.ndarray:
    n = np.arange(round(seconds * rate))
    wave = amplitude * np.sin(2 * np.pi * cycles_per_sample * n + phase)
    return np.stack([wave, wave], axis=1)


# Tech 3341 cases 15-19 test true-peak metering with sines whose samples straddle the
# crests: (case, cycles per sample, phase of the first sample, peak amplitude, expected
# dBTP). For a sine at Fs/k the crest lies between two samples when the sample phases are
# symmetric around 90°, which puts the sample peak cos(180°/k) below the true peak:
# -3.01 dB at Fs/4, -1.25 dB at Fs/6, -0.69 dB at Fs/8. Cases 15 and 19 are our reading
# of the table (Fs/4 at crest phase; Fs/4 with a 0 dBFS sample peak and a +3 dBTP true
# peak); the tolerance is the Tech 3341 one, +0.2 / -0.4 dB.
TECH3341_TRUE_PEAK = [
    ("case 15", 1 / 4, math.pi / 2, 0.5, -6.02),
    ("case 16", 1 / 4, math.pi / 4, 0.5, -6.02),
    ("case 17", 1 / 6, math.pi / 3, 0.5, -6.02),
    ("case 18", 1 / 8, 3 * math.pi / 8, 0.5, -6.02),
    ("case 19", 1 / 4, math.pi / 4, math.sqrt(2.0), 3.01),
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    ("case", "cycles", "phase", "amplitude", "expected"),
    TECH3341_TRUE_PEAK,
    ids=[c[0] for c in TECH3341_TRUE_PEAK],
)
def test_tech3341_true_peak(
    case: str, cycles: float, phase: float, amplitude: float, expected: float, rate: int
) -> None:
    """EBU Tech 3341 cases 15-19 as synthesised above (stereo, 1 s, at each rate): the
    true peak equals the sine's amplitude within +0.2 / -0.4 dB although the samples
    miss the crests by up to 3 dB."""
    samples = sine_at(rate, cycles, amplitude, phase)
    sample_peak = db(float(np.abs(samples).max()))
    peaks = true_peak(samples, rate)
    assert peaks.shape == (2,)
    for peak in peaks:
        assert expected - 0.4 <= db(float(peak)) <= expected + 0.2
    # The meter must see what the sample peak misses (except case 15, at the crest).
    if case != "case 15":
        assert db(float(peaks.max())) > sample_peak + 0.5
    report = loudness_measurements(samples, rate)
    assert expected - 0.4 <= report["true_peak_dbtp"] <= expected + 0.2


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("frequency", [997.0, 5_000.0, 11_025.0, 15_000.0])
def test_true_peak_of_a_sine_is_its_amplitude(frequency: float, rate: int) -> None:
    """BS.1770-4 Annex 2: 4x oversampling under-reads by at most ~0.7 dB near Nyquist;
    below 15 kHz a sine of any phase must read within +0.2 / -0.4 dB of its amplitude."""
    rng = np.random.default_rng(int(frequency) + rate)
    for phase in rng.uniform(0, 2 * np.pi, size=4):
        samples = sine_at(rate, frequency / rate, 0.7, phase, seconds=0.25)[:, :1]
        assert db(0.7) - 0.4 <= db(float(true_peak(samples, rate)[0])) <= db(0.7) + 0.2


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("frequency", [1_000.0, 12_000.0, 18_000.0])
@pytest.mark.parametrize("where", ["crest at the end", "crest at the start", "cut mid-slope"])
def test_true_peak_does_not_ring_at_the_edges(frequency: float, where: str, rate: int) -> None:
    """A full-scale sine cut at a crest or mid-slope must not read more than +0.3 dB over
    its amplitude. Zero-padding makes a crest at the edge a step (~+1 dB of Gibbs
    ringing); mirror padding makes a cut at 12-18 kHz a kink (also up to +1 dB)."""
    n = np.arange(rate // 4)
    omega = 2 * np.pi * frequency / rate
    if where == "crest at the end":
        wave = np.cos(omega * (n - n[-1]))
    elif where == "crest at the start":
        wave = np.cos(omega * n)
    else:
        wave = np.sin(omega * n + 1.1)
    peak = db(float(true_peak(wave, rate)[0]))
    assert peak <= 0.3
    assert peak >= -0.4


def test_true_peak_of_an_impulse_at_the_edge_is_its_height() -> None:
    for index in (0, -1):
        impulse = np.zeros((2000, 1))
        impulse[index] = -0.8
        assert true_peak(impulse, 48_000)[0] == pytest.approx(0.8, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    frames=st.integers(min_value=1, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    rate=st.sampled_from([8_000, 44_100, 48_000, 96_000, 192_000]),
)
def test_true_peak_is_never_below_the_sample_peak(frames: int, seed: int, rate: int) -> None:
    samples = np.random.default_rng(seed).standard_normal((frames, 2)) * 0.3
    peaks = true_peak(samples, rate)
    np.testing.assert_array_less(np.abs(samples).max(axis=0) - 1e-7, peaks)


def test_true_peak_oversample_argument() -> None:
    samples = sine_at(48_000, 1 / 4, 0.5, math.pi / 4)
    # 1x is the sample peak, 3 dB under the crest; 4x finds the crest.
    assert db(float(true_peak(samples, 48_000, oversample=1)[0])) == pytest.approx(-9.03, abs=0.01)
    assert db(float(true_peak(samples, 48_000, oversample=4)[0])) == pytest.approx(-6.02, abs=0.05)
    with pytest.raises(AnalysisError):
        true_peak(samples, 48_000, oversample=0)


# ------------------------------------------------------------------ EBU Tech 3342 (LRA)

TECH3342 = [
    ("case 1", [(-20.0, 20.0), (-30.0, 20.0)], 10.0),
    ("case 2", [(-20.0, 20.0), (-15.0, 20.0)], 5.0),
    ("case 3", [(-40.0, 20.0), (-20.0, 20.0)], 20.0),
    ("case 4", [(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)], 15.0),
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("case", "parts", "expected"), TECH3342, ids=[c[0] for c in TECH3342])
def test_tech3342_loudness_range(
    case: str, parts: list[tuple[float, float]], expected: float, rate: int
) -> None:
    """EBU Tech 3342 Table 1, cases 1-4: stereo 1 kHz steps, LRA = expected ±1 LU.

    Case 4's -50 dBFS parts fall under the -20 LU relative gate, so they do not widen the
    range. Steps between long steady parts put both percentiles on plateaus, so the
    result is in fact exact; we also check it to ±0.1 LU."""
    lra = loudness_range(tone(parts, rate), rate)
    assert lra == pytest.approx(expected, abs=1.0)
    assert lra == pytest.approx(expected, abs=0.1)


# ------------------------------------------------------------------ gating and reports


@pytest.mark.parametrize("rate", RATES)
def test_silence_has_no_loudness_and_says_why(rate: int) -> None:
    silence = np.zeros((rate * 5, 2))
    assert integrated_loudness(silence, rate) == -math.inf
    assert math.isnan(loudness_range(silence, rate))
    assert np.all(block_loudness(silence, rate, block_s=0.4, hop_s=0.1) == -np.inf)
    report = loudness_measurements(silence, rate)
    for field in (
        "integrated_lufs",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
    ):
        assert report[field] is None, field
        assert report["notes"][field], field
    assert report["notes"]["integrated_lufs"] == (
        "no 400 ms block above the -70 LUFS absolute gate"
    )


def test_quiet_signal_is_gated_but_still_metered() -> None:
    """-80 LUFS: below the absolute gate, so no integrated loudness or LRA, but the
    momentary and short-term maxima and the true peak are real measurements."""
    rate = 48_000
    samples = tone([(-80.0, 5.0)], rate)
    report = loudness_measurements(samples, rate)
    assert report["integrated_lufs"] is None
    assert report["loudness_range_lu"] is None
    assert report["momentary_max_lufs"] == pytest.approx(-80.0, abs=0.1)
    assert report["short_term_max_lufs"] == pytest.approx(-80.0, abs=0.1)
    assert report["true_peak_dbtp"] == pytest.approx(-80.0, abs=0.1)
    assert set(report["notes"]) == {"integrated_lufs", "loudness_range_lu"}


def test_short_signals_report_what_they_can() -> None:
    rate = 44_100
    half_second = tone([(-20.0, 0.5)], rate)
    report = loudness_measurements(half_second, rate)
    assert report["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
    assert report["short_term_max_lufs"] is None
    assert "shorter than one 3 s block" in report["notes"]["short_term_max_lufs"]
    assert report["loudness_range_lu"] is None

    blip = tone([(-20.0, 0.3)], rate)
    report = loudness_measurements(blip, rate)
    assert report["integrated_lufs"] is None
    assert "shorter than one 400 ms block" in report["notes"]["integrated_lufs"]
    assert report["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.1)

    empty = np.zeros((0, 2))
    report = loudness_measurements(empty, rate)
    assert all(report[f] is None for f in report if f != "notes")


def test_relative_gate_ignores_the_quiet_half() -> None:
    """BS.1770-4 §2.8: 10 s at -20 then 10 s at -40 dBFS. The relative gate sits ~13 LU
    under the loud part, so the 97 blocks of the -40 part are dropped while the three
    blocks straddling the step (75, 50 and 25 % loud, i.e. -1.2, -3.0 and -5.9 dB) pass:
    I = L(loud) + 10 log10((97 + 0.7525 + 0.505 + 0.2575) / 100) = L(loud) - 0.065 dB.
    Without the relative gate it would be ~3 LU lower."""
    rate = 48_000
    loud = integrated_loudness(tone([(-20.0, 10.0)], rate), rate)
    samples = tone([(-20.0, 10.0), (-40.0, 10.0)], rate)
    expected = loud + 10 * math.log10((97 + 0.7525 + 0.505 + 0.2575) / 100)
    assert integrated_loudness(samples, rate) == pytest.approx(expected, abs=0.01)


def test_measurements_agree_with_the_single_functions_and_are_rounded() -> None:
    rate = 48_000
    rng = np.random.default_rng(3)
    samples = tone([(-18.0, 6.0), (-26.0, 6.0)], rate) + 0.01 * rng.standard_normal((rate * 12, 2))
    report = loudness_measurements(samples, rate)
    assert report["integrated_lufs"] == round(integrated_loudness(samples, rate), 2)
    assert report["loudness_range_lu"] == round(loudness_range(samples, rate), 2)
    assert report["true_peak_dbtp"] == round(db(float(true_peak(samples, rate).max())), 2)
    momentary = block_loudness(samples, rate, block_s=0.4, hop_s=0.1)
    short_term = block_loudness(samples, rate, block_s=3.0, hop_s=0.1)
    assert report["momentary_max_lufs"] == round(float(momentary.max()), 2)
    assert report["short_term_max_lufs"] == round(float(short_term.max()), 2)
    for field, value in report.items():
        if field != "notes":
            assert value == round(value, 2)


def test_channel_layouts() -> None:
    """Mono vs stereo vs 5.1: the same tone in both stereo channels is +3.01 dB over mono;
    in a 5.1 surround channel +1.49 dB (G = 1.41) over a front one; in the LFE, nothing."""
    rate = 48_000
    mono = tone([(-20.0, 5.0)], rate, channels=1)
    quiet = np.zeros_like(mono)
    level = integrated_loudness(mono, rate)
    assert level == pytest.approx(-23.01, abs=0.05)  # one channel: 3 dB under the stereo tone
    assert integrated_loudness(mono[:, 0], rate) == level  # a 1-D array is mono
    assert integrated_loudness(np.hstack([mono, mono]), rate) == pytest.approx(
        level + 3.01, abs=0.01
    )
    front = np.hstack([mono, quiet, quiet, quiet, quiet, quiet])
    surround = np.hstack([quiet, quiet, quiet, quiet, mono, quiet])
    lfe = np.hstack([quiet, quiet, quiet, mono, quiet, quiet])
    assert integrated_loudness(front, rate) == pytest.approx(level, abs=1e-9)
    assert integrated_loudness(surround, rate) == pytest.approx(
        level + 10 * math.log10(1.41), abs=1e-6
    )
    assert integrated_loudness(lfe, rate) == -math.inf
    # True peak still covers every channel, the LFE included.
    assert loudness_measurements(lfe, rate)["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.1)


def test_float32_input_gives_the_same_answer() -> None:
    rate = 44_100
    samples = tone([(-23.0, 5.0)], rate)
    wide = loudness_measurements(samples, rate)
    narrow = loudness_measurements(samples.astype(np.float32), rate)
    for field in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs"):
        assert narrow[field] == pytest.approx(wide[field], abs=0.01)


def test_silence_after_sound_is_not_slow() -> None:
    """Digital silence after a sound decays the IIR state into subnormal floats, which are
    15-50x slower on x86; the denormal guard must keep a mostly-silent file as fast as a
    loud one (generous 4x margin against timing noise)."""
    import time

    rate = 48_000
    loud = tone([(-20.0, 30.0)], rate)
    mostly_silent = loud.copy()
    mostly_silent[rate:] = 0.0

    def timed(samples: np.ndarray) -> float:
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            integrated_loudness(samples, rate)
            best = min(best, time.perf_counter() - start)
        return best

    assert timed(mostly_silent) < 4 * timed(loud) + 0.02


# ------------------------------------------------------------------ input validation


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[0.0, np.nan]] * 48_000),
        np.array([[np.inf]] * 48_000),
        np.zeros((10, 2, 2)),
        np.zeros((10, 0)),
        np.zeros((48_000, 2), dtype=np.int16),
    ],
    ids=["nan", "inf", "3-d", "no channels", "integers"],
)
def test_invalid_samples_raise_analysis_error(bad: np.ndarray) -> None:
    with pytest.raises(AnalysisError):
        loudness_measurements(bad, 48_000)


def test_invalid_block_lengths_raise_analysis_error() -> None:
    with pytest.raises(AnalysisError):
        block_loudness(np.zeros((1000, 2)), 48_000, block_s=0.0, hop_s=0.1)
    with pytest.raises(AnalysisError):
        block_loudness(np.zeros((1000, 2)), 48_000, block_s=0.4, hop_s=-0.1)


@pytest.mark.parametrize("rate", [0, 4_000, 500_000, 44_100.5])
def test_invalid_rates_raise_analysis_error(rate: float) -> None:
    with pytest.raises(AnalysisError):
        integrated_loudness(np.zeros((1000, 2)), rate)  # type: ignore[arg-type]
    with pytest.raises(AnalysisError):
        k_weighting_sos(rate)  # type: ignore[arg-type]


# ------------------------------------------------------------------ streaming meter


def programme(rate: int, seconds: float, channels: int, seed: int) -> np.ndarray:
    """Noise with a slowly varying level, so that every window reads differently."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * rate)
    envelope = 10 ** ((-15 - 15 * np.sin(np.linspace(0, 7, frames)) ** 2) / 20)
    return rng.standard_normal((frames, channels)) * envelope[:, np.newaxis] * 0.5


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_streaming_meter_matches_offline_blocks(rate: int, channels: int) -> None:
    """Fed in random block sizes (0 to 1.2 s), the streaming meter equals the offline
    blocks over the same stretch at every 100 ms boundary it passes, within 0.01 LU."""
    samples = programme(rate, 6.0, channels, seed=rate + channels).astype(np.float32)
    momentary = block_loudness(samples, rate, block_s=0.4, hop_s=0.1)
    short_term = block_loudness(samples, rate, block_s=3.0, hop_s=0.1)
    hop = round(0.1 * rate)
    meter = StreamingLoudnessMeter(rate, channels)
    rng = np.random.default_rng(channels)
    position = 0
    checked = 0
    while position < samples.shape[0]:
        size = int(rng.integers(0, int(1.2 * rate)))
        # Stop exactly on 100 ms boundaries now and then, to compare with offline blocks.
        boundary = (position // hop + 1) * hop
        if rng.random() < 0.5 and boundary - position <= size:
            size = boundary - position
        block = samples[position : position + size]
        meter.process(block)
        position += block.shape[0]
        if position % hop == 0:
            index = position // hop
            m, s = meter.momentary_lufs, meter.short_term_lufs
            if index >= 4:
                assert m == pytest.approx(momentary[index - 4], abs=0.01)
                checked += 1
            else:
                assert m is None
            if index >= 30:
                assert s == pytest.approx(short_term[index - 30], abs=0.01)
            else:
                assert s is None
    assert position == samples.shape[0]
    assert meter.momentary_lufs == pytest.approx(momentary[-1], abs=0.01)
    assert meter.short_term_lufs == pytest.approx(short_term[-1], abs=0.01)
    assert checked >= 3


def test_streaming_meter_reset_and_validation() -> None:
    rate = 48_000
    meter = StreamingLoudnessMeter(rate, 2)
    assert meter.momentary_lufs is None and meter.short_term_lufs is None
    samples = tone([(-23.0, 4.0)], rate)
    meter.process(samples)
    assert meter.momentary_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.short_term_lufs == pytest.approx(-23.0, abs=0.1)
    meter.reset()
    assert meter.momentary_lufs is None and meter.short_term_lufs is None
    meter.process(np.zeros((rate, 2)))
    assert meter.momentary_lufs is not None and meter.momentary_lufs < -200
    with pytest.raises(AnalysisError):
        meter.process(np.zeros((10, 3)))
    mono = StreamingLoudnessMeter(rate, 1)
    mono.process(samples[:, 0])  # 1-D is accepted for mono
    assert mono.momentary_lufs == pytest.approx(-26.01, abs=0.1)
