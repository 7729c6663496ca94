"""The soak benchmark in CI: two minutes of mixed traffic, no error, no growth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
# The same 5 % as at 30 minutes. The app still settles after the first minute (in a
# 30-minute run here its RSS went 115.3 MiB at 1 min, 116.8 at 2, 117.8 at 5, 118.2 at
# 30), so the two-minute check sees that minute's settling, 0.9-1.3 % in runs here: a
# quarter of the margin. A leak at this traffic shows well above it (the chat memory of
# issue 10 went from 8 to 59 MB in 10 s).
MAX_GROWTH_PERCENT_2_MIN = 5.0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_minutes_of_mixed_traffic_without_errors_or_growth() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "2",
         "--max-growth", str(MAX_GROWTH_PERCENT_2_MIN)],
        capture_output=True, text=True, timeout=840, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert "PASSED" in result.stdout
