"""Codette Desktop: the local companion server for browser DAWs."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("codette-desktop")
except _metadata.PackageNotFoundError:  # frozen bundle or a source tree without install
    __version__ = "0.1.0"

PROTOCOL_VERSION = "1"
