"""Every benchmark still starts: its imports resolve and its options parse.

The benches are run by hand, not by CI, so a refactor of what they share (bench/harness.py)
can break one unnoticed; ``--help`` imports the whole script and exits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LIBRARIES = {"harness.py", "baseline_servers.py"}  # imported by the others, no options
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in LIBRARIES)


def test_every_script_is_covered() -> None:
    assert {"ws_bench.py", "loop_bench.py", "soak.py", "hostile_bench.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_bench_imports_and_parses_its_options(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], cwd=BENCH.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:200]
