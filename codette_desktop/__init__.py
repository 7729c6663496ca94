"""Codette Desktop: the local companion server for browser DAWs."""

from importlib import metadata as _metadata


def _read_version() -> str:
    """The version in pyproject.toml, the one place it is written.

    Installed (also editable) and in the PyInstaller bundle (the spec copies the package
    metadata) it comes from the distribution metadata; in a bare source checkout that was
    never installed it is read from pyproject.toml itself.
    """
    try:
        return _metadata.version("codette-desktop")
    except _metadata.PackageNotFoundError:
        pass
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib

        with pyproject.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "0+unknown"


__version__ = _read_version()

PROTOCOL_VERSION = "1"
