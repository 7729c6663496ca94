"""Audio analysis: decode the wire audio, measure it, and turn the numbers into advice.

Public API (used by the server and its worker processes)::

    decode_audio(audio: dict) -> AudioBuffer
    analyze_audio(buffer, *, track, analysis_type="full") -> dict   # the "analysis" object
    analyze_metadata(*, track, audio_data, analysis_type="full") -> dict
    ANALYSIS_TYPES

Errors are :class:`~codette_desktop.errors.AnalysisError` with the wire ``code``
(``invalid_field`` + ``field`` for a malformed request, ``analysis_failed`` for unusable
audio). :mod:`.worker` wraps all of it for a process pool and never raises.

This package must stay cheap to import: librosa (and numba) load only inside
:mod:`.features`, when tempo or key is first estimated.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .decode import AudioBuffer, decode_audio
    from .report import ANALYSIS_TYPES, analyze_audio, analyze_metadata

# Loaded on first use (PEP 562): the server process imports submodules of this package
# (capture's meter) without paying for scipy.stats and the rest at start-up.
_EXPORTS = {
    "AudioBuffer": ".decode", "decode_audio": ".decode", "ANALYSIS_TYPES": ".report",
    "analyze_audio": ".report", "analyze_metadata": ".report",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ANALYSIS_TYPES", "AudioBuffer", "analyze_audio", "analyze_metadata", "decode_audio"]
