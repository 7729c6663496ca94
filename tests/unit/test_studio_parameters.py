"""Starting values parsed from knowledge-base guidance lines."""

from __future__ import annotations

import pytest

from codette_desktop.engine.studio.parameters import parse_parameters


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "If the vocal sounds boxy, cut 2-4 dB somewhere in 200-400 Hz with a Q of about 1-2.",
            {
                "frequency_hz": 280.0,
                "frequency_hz_range": [200.0, 400.0],
                "gain_db": -3.0,
                "gain_db_range": [-4.0, -2.0],
                "q": 1.5,
                "q_range": [1.0, 2.0],
            },
        ),
        (
            "Nasal tone usually sits at 800 Hz-1.2 kHz; cut 1-3 dB with Q 2-4 only if you hear it.",
            {
                "frequency_hz": 980.0,
                "frequency_hz_range": [800.0, 1200.0],
                "gain_db": -2.0,
                "gain_db_range": [-3.0, -1.0],
                "q": 3.0,
                "q_range": [2.0, 4.0],
            },
        ),
        (
            "For intelligibility add a broad +1 to +3 dB bell (Q 0.7-1.2) in the 2.5-5 kHz region.",
            {
                "frequency_hz": 3500.0,
                "frequency_hz_range": [2500.0, 5000.0],
                "gain_db": 2.0,
                "gain_db_range": [1.0, 3.0],
                "q": 0.95,
                "q_range": [0.7, 1.2],
            },
        ),
        (
            "Start at 3:1-4:1, attack 5-20 ms, release 40-120 ms (or auto), with the threshold set "
            "for 3-6 dB of gain reduction on the loud phrases.",
            {
                "ratio": 3.5,
                "ratio_range": [3.0, 4.0],
                "attack_ms": 12.5,
                "attack_ms_range": [5.0, 20.0],
                "release_ms": 80.0,
                "release_ms_range": [40.0, 120.0],
                "gain_reduction_db": 4.5,
                "gain_reduction_db_range": [3.0, 6.0],
            },
        ),
        (
            "Insert an EQ and sweep a 3 dB cut between 200 and 500 Hz.",
            {"frequency_hz": 320.0, "frequency_hz_range": [200.0, 500.0], "gain_db": -3.0},
        ),
        ("Spotify: -14 LUFS integrated reference.", {"loudness_lufs": -14.0}),
        ("Set the ceiling to -1 dBTP.", {"true_peak_dbtp": -1.0}),
        (
            "Aim for -20 to -14 dBFS average.",
            {"level_dbfs": -17.0, "level_dbfs_range": [-20.0, -14.0]},
        ),
        ("Plates at 1.2-2.0 s decay suit pop vocals.", {"time_s": 1.6, "time_s_range": [1.2, 2.0]}),
        ("Use 20-80 ms of pre-delay.", {"time_ms": 50.0, "time_ms_range": [20.0, 80.0]}),
    ],
)
def test_known_lines(line: str, expected: dict) -> None:
    assert parse_parameters(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "Sit the stack roughly 6-12 dB under the lead.",  # a relative level, not an EQ move
        "Slopes of 12-18 dB/oct sound natural.",  # a filter slope
        "Monitor at 79-85 dB SPL.",
        "Create subgroup buses for each instrument family.",
    ],
)
def test_figures_that_are_not_gain_changes_are_not_reported(line: str) -> None:
    result = parse_parameters(line)
    assert "gain_db" not in result and "gain_reduction_db" not in result
