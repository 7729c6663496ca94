"""Typed parts shared by the protocol core, the chat engine and the analysis.

Each type is valid once constructed: :meth:`from_wire` reads a JSON object and raises
:class:`~codette_desktop.errors.ProtocolError` (``invalid_field``, naming the field) for
anything the contract does not allow, so code downstream never checks again.
Pure Python; imports nothing but :mod:`codette_desktop.errors`.
"""

from codette_desktop.domain.audio import (
    ANALYSIS_TYPES,
    AUDIO_FORMATS,
    AudioPayload,
    UploadHeader,
)
from codette_desktop.domain.daw import DawContext, Track
from codette_desktop.domain.fields import WireFields

__all__ = [
    "ANALYSIS_TYPES",
    "AUDIO_FORMATS",
    "AudioPayload",
    "DawContext",
    "Track",
    "UploadHeader",
    "WireFields",
]
