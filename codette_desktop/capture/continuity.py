"""Detect lost input frames from PortAudio's timestamps, independently of its flags.

PortAudio's ``input_overflow`` flag depends on the host API noticing the loss, and not
every host or plugin reports it: through the ALSA PulseAudio plugin, a callback stalled
for 20 s lost 9.1 s of input, and one running 3.4× slower than real time for 40 s lost
17.7 s, both without a single flag (measured on the test machine; PulseAudio keeps at
most 4 MiB per record stream, 10.9 s of 48 kHz stereo float32, and drops the rest).
The check below found both losses to within 0.1 %.

It uses ``time_info.inputBufferAdcTime``, which every callback carries: when the block's
first frame was captured. On ALSA PortAudio computes it as the status timestamp minus
the frames waiting in the buffer (``pa_linux_alsa.c``, ``CalculateTimeInfo``), i.e. from
a real clock, not from the frame count. So the *residual*
``adc_time - frames_received / sample_rate`` stays constant while nothing is lost — also
through the burst of late blocks after a stalled callback (measured: constant within
0.5 ms over 2.5 s and 8 s stalls, which PulseAudio buffered without loss) — and steps up
by the length of a gap when input is lost, for good.

What is counted, and what is not:

- A *gap* when the median residual of the last ``window`` blocks rises above the
  reference by more than ``max(min_tolerance_s, 1.5 blocks)``; the rise times the rate
  is the number of frames lost. Losses smaller than that are not seen (a real overrun
  loses at least a host buffer, which is larger). A gap is reported about
  ``window / 2`` blocks after it happened; steps less than ``relock_s`` apart count as
  one gap.
- The artefacts measured through the ALSA PulseAudio plugin are all *early* timestamps,
  by up to about one block period (~8 ms): single blocks every ~170 ms while a stream
  plays into the monitored sink, runs of ~10 blocks now and then, and, while the
  callback is persistently slower than real time, a sawtooth that sinks by ~6 ms over
  seconds and jumps back. None of them may look like a gap when the timestamps come
  back up, so the median drops single outliers and the reference is the *upper*
  envelope: it follows the residual up slowly (drift) and down only when the residual
  has stayed below it by more than the tolerance for ``relock_s`` (the latency really
  shrank, or the clocks drift that way), counting nothing either way.
- Nothing during the first ``warmup_s`` of a stream: the first stream of a process on ALSA
  starts with a burst of prebuffered blocks whose timestamps settle over ~0.5 s
  (measured: +17 ms per block pair until PortAudio's delay estimate is right). The
  first reference is the median of the last ~100 blocks of the warm-up.
- Missing timestamps (``0.0``: hosts that do not provide them) are skipped. If a host
  never provides them, this detector is blind and only PortAudio's flags count.
- Known blind spot: on ALSA the timestamps come from the wall clock, so a forward step
  of the system clock (NTP) while capturing would count as one gap.
"""

from __future__ import annotations

import math
from collections import deque


class ContinuityTracker:
    """Feed it every block's ``(first_frame, frames, adc_time)``; it reports frames lost."""

    def __init__(
        self,
        *,
        sample_rate: float,
        min_tolerance_s: float = 0.010,
        warmup_s: float = 2.0,
        window: int = 9,
        drift_follow: float = 0.05,
        relock_s: float = 5.0,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.sample_rate = float(sample_rate)
        self.min_tolerance_s = min_tolerance_s
        self.warmup_frames = int(warmup_s * sample_rate)
        self.window = window
        self.drift_follow = drift_follow
        self.relock_frames = int(relock_s * sample_rate)
        self._below_since: int | None = None  # first frame of a run below the reference
        self._recent: deque[float] = deque(maxlen=window)
        # The first reference is the median of a longer stretch, so that it is not taken
        # in the middle of a run of early timestamps.
        self._history: deque[float] = deque(maxlen=max(window, 101))
        self._reference: float | None = None
        self._last_gap_frame = -(1 << 62)
        self.gaps = 0  # gap events detected
        self.lost_frames = 0  # frames estimated lost, over all gaps

    def observe(self, first_frame: int, frames: int, adc_time: float) -> int:
        """Take the block that starts at ``first_frame`` (frames received before it).

        Returns the estimated number of frames lost when this block makes a gap evident
        (a few blocks after it happened), else 0. One gap can be reported in parts
        a few blocks apart; :attr:`gaps` counts it once.
        """
        if not math.isfinite(adc_time) or adc_time <= 0.0:
            return 0
        residual = adc_time - first_frame / self.sample_rate
        self._recent.append(residual)
        if self._reference is None:
            self._history.append(residual)
        if first_frame < self.warmup_frames or len(self._recent) < self.window:
            return 0
        if self._reference is None:
            history = sorted(self._history)
            self._reference = history[len(history) // 2]
            self._history.clear()  # only needed once
        median = sorted(self._recent)[self.window // 2]
        step = median - self._reference
        tolerance = max(self.min_tolerance_s, 1.5 * frames / self.sample_rate)
        if step > tolerance:
            lost = max(1, round(step * self.sample_rate))
            # Early timestamps around a gap can make it show up in two steps; steps less
            # than relock_s apart are counted as one gap (their frames all add up).
            if first_frame - self._last_gap_frame >= self.relock_frames:
                self.gaps += 1
            self._last_gap_frame = first_frame
            self.lost_frames += lost
            self._reference = median
            return lost
        if step < -tolerance:
            # Early timestamps come in runs and slow dips and end; only a drop that lasts
            # relock_s is a new latency to measure from.
            if self._below_since is None:
                self._below_since = first_frame
            elif first_frame - self._below_since >= self.relock_frames:
                self._reference = median
                self._below_since = None
            return 0
        self._below_since = None
        if step > 0:
            # Follow upward drift only: the reference is the upper envelope of the
            # residual, because the artefacts are all early timestamps (measured).
            self._reference += self.drift_follow * step
        return 0
