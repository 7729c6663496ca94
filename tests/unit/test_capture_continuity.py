"""Lost-frame detection from block timestamps, on synthetic timelines.

The timelines imitate what PortAudio's ALSA host API hands over through PulseAudio
(measured, see ``codette_desktop/capture/continuity.py``): ~417-frame blocks in pairs,
single blocks stamped one period early, a settling ramp at the start of a stream.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codette_desktop.capture.continuity import ContinuityTracker

RATE = 48000
BLOCK = 417


def timeline(
    seconds: float,
    *,
    start: float = 1000.0,
    gaps: dict[int, int] | None = None,
    early_every: int = 0,
    early_run: int = 1,
    early_s: float = 0.0087,
    drift_ppm: float = 0.0,
    ramp_blocks: int = 0,
) -> Iterator[tuple[int, int, float]]:
    """``(first_frame, frames, adc_time)`` per block; ``gaps`` maps block → frames lost."""
    gaps = gaps or {}
    received = 0
    captured = 0  # frames that existed, lost ones included
    for i in range(int(seconds * RATE / BLOCK)):
        captured += gaps.get(i, 0)
        adc = start + captured / RATE * (1 + drift_ppm * 1e-6)
        if i < ramp_blocks:  # the start-up settling seen on the first stream of a process
            adc -= (ramp_blocks - i) * 0.0087
        if early_every and i % early_every >= early_every - early_run:
            adc -= early_s
        yield received, BLOCK, adc
        received += BLOCK
        captured += BLOCK


def run(tracker: ContinuityTracker, blocks: Iterator[tuple[int, int, float]]) -> list[int]:
    return [lost for lost in (tracker.observe(*b) for b in blocks) if lost]


def test_a_steady_stream_loses_nothing() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    assert run(tracker, timeline(20)) == []


@pytest.mark.parametrize("lost", [960, 4800, 48000])  # 20 ms, 100 ms, 1 s
def test_a_gap_is_found_and_measured(lost: int) -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    found = run(tracker, timeline(10, gaps={600: lost}))
    assert len(found) == 1
    assert found[0] == pytest.approx(lost, abs=2)
    assert tracker.gaps == 1 and tracker.lost_frames == found[0]


def test_two_gaps_far_apart_count_twice() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    assert len(run(tracker, timeline(15, gaps={400: 2000, 1200: 3000}))) == 2


def test_single_early_timestamps_are_not_gaps() -> None:
    # Through the ALSA PulseAudio plugin one block in ~20 arrives stamped a period early.
    tracker = ContinuityTracker(sample_rate=RATE)
    assert run(tracker, timeline(30, early_every=19)) == []


@pytest.mark.parametrize("at", range(700, 719))  # every phase of the outlier pattern
def test_a_gap_is_still_found_among_early_timestamps(at: int) -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    found = run(tracker, timeline(10, early_every=19, gaps={at: 4800}))
    # An early block inside the median window may hide up to a block of the gap from
    # the estimate (the rest is below the tolerance); it is still one gap.
    assert tracker.gaps == 1
    assert sum(found) == pytest.approx(4800, abs=1.5 * BLOCK)


@pytest.mark.parametrize("run_length", [3, 5, 10, 30])
def test_runs_of_early_timestamps_are_not_gaps(run_length: int) -> None:
    # Seen through PulseAudio: now and then ~10 blocks in a row stamped a period early.
    tracker = ContinuityTracker(sample_rate=RATE)
    assert run(tracker, timeline(30, early_every=230, early_run=run_length)) == []


@pytest.mark.parametrize("at", [1150, 1155, 1160])
def test_a_gap_inside_a_run_of_early_timestamps_is_found(at: int) -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    found = run(tracker, timeline(15, early_every=1160, early_run=12, gaps={at: 4800}))
    assert tracker.gaps == 1
    assert sum(found) == pytest.approx(4800, abs=1.5 * BLOCK)


def test_a_sinking_sawtooth_is_not_a_gap() -> None:
    # Measured while the callback is slower than real time: timestamps sink 6.6 ms over
    # ~4.5 s, then jump back up by a block, again and again.
    tracker = ContinuityTracker(sample_rate=RATE)
    blocks = [(f, n, t - 0.0066 * ((i % 520) / 520)) for i, (f, n, t) in enumerate(timeline(60))]
    assert run(tracker, iter(blocks)) == []


def test_losses_smaller_than_the_tolerance_are_not_seen() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)  # tolerance: 1.5 blocks = 13 ms
    assert run(tracker, timeline(10, gaps={600: 417})) == []


def test_start_up_settling_is_ignored() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    assert run(tracker, timeline(10, ramp_blocks=60)) == []


@pytest.mark.parametrize("ppm", [-200.0, 200.0])
def test_clock_drift_over_an_hour_is_not_a_gap(ppm: float) -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    assert run(tracker, timeline(3600, drift_ppm=ppm)) == []


def test_shrinking_latency_is_not_a_gap_and_gaps_count_from_the_new_latency() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    blocks = list(timeline(20, gaps={1500: 4800}))
    # From block 500 on, every timestamp is 30 ms earlier (the host's latency dropped);
    # the tracker measures from the new latency after relock_s (5 s, ~575 blocks).
    shifted = [(f, n, t - 0.030 if i >= 500 else t) for i, (f, n, t) in enumerate(blocks)]
    found = run(tracker, iter(shifted))
    assert tracker.gaps == 1 and sum(found) == pytest.approx(4800, abs=2)


def test_missing_timestamps_count_nothing() -> None:
    tracker = ContinuityTracker(sample_rate=RATE)
    blocks = [(f, n, 0.0) for f, n, _ in timeline(10, gaps={600: 4800})]
    assert run(tracker, iter(blocks)) == []


def test_gaps_during_warm_up_are_not_counted() -> None:
    tracker = ContinuityTracker(sample_rate=RATE, warmup_s=2.0)
    assert run(tracker, timeline(10, gaps={100: 4800})) == []  # block 100 ≈ 0.9 s
