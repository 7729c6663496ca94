"""PortAudio availability and input-device discovery.

``sounddevice`` is imported lazily, inside these functions: importing it loads the
PortAudio shared library and initialises it, which fails with ``OSError`` on a machine
without ``libportaudio2``. The rest of the application must keep working there (the
server, chat and file analysis need no audio device), so only capture reports the problem.

PortAudio calls are not thread-safe with respect to each other. :class:`CaptureService`
makes all of its own calls from one worker thread; code that also calls the functions
here directly should not do so while the service is starting or stopping a stream
(prefer ``CaptureService.list_devices()``).
"""

from __future__ import annotations

import importlib
from typing import Any

from codette_desktop.errors import AudioDeviceError


def import_sounddevice() -> Any:
    """Return the ``sounddevice`` module, or raise :class:`AudioDeviceError` saying why not."""
    try:
        return importlib.import_module("sounddevice")
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise AudioDeviceError(f"PortAudio is not available: {exc}") from exc
    except ImportError as exc:
        raise AudioDeviceError(
            f"PortAudio is not available: the sounddevice package cannot be imported ({exc})"
        ) from exc


def portaudio_status() -> tuple[bool, str | None]:
    """``(True, None)`` if PortAudio can be used, else ``(False, reason)``. Never raises."""
    try:
        import_sounddevice()
    except AudioDeviceError as exc:
        return False, str(exc)
    except Exception as exc:  # any surprise while loading a C library is "unavailable" too
        return False, f"PortAudio is not available: {exc}"
    return True, None


def refresh_portaudio(sd: Any) -> None:
    """Re-scan the devices (PortAudio lists them once, when it is initialised).

    Needed to see devices that appeared after start-up, e.g. a USB interface plugged in
    or a sound server started later. Terminating PortAudio closes every open stream, so
    call this only when none is open.
    """
    terminate = getattr(sd, "_terminate", None)
    initialize = getattr(sd, "_initialize", None)
    if terminate is None or initialize is None:  # another sounddevice: keep the old list
        return
    terminate()
    initialize()


def _default_input_index(sd: Any) -> int | None:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except Exception:  # PortAudioError/ValueError: there is no default input device
        return None


def list_input_devices(*, refresh: bool = False) -> list[dict[str, Any]]:
    """Input-capable devices as JSON-safe dicts.

    Each is ``{"index", "name", "max_input_channels", "default_samplerate",
    "is_default"}``. Raises :class:`AudioDeviceError` if PortAudio is unavailable or
    cannot list devices. ``refresh=True`` re-scans first (see :func:`refresh_portaudio`:
    only when no stream is open).
    """
    sd = import_sounddevice()
    try:
        if refresh:
            refresh_portaudio(sd)
        devices = sd.query_devices()
        default = _default_input_index(sd)
    except Exception as exc:
        raise AudioDeviceError(f"cannot list audio devices: {exc}") from exc
    result: list[dict[str, Any]] = []
    for info in devices:
        channels = int(info["max_input_channels"])
        if channels <= 0:
            continue
        index = int(info["index"])
        result.append(
            {
                "index": index,
                "name": str(info["name"]),
                "max_input_channels": channels,
                "default_samplerate": float(info["default_samplerate"]),
                "is_default": index == default,
            }
        )
    return result


def resolve_input_device(devices: list[dict[str, Any]], device: int | str | None) -> dict[str, Any]:
    """Pick one entry of :func:`list_input_devices` for a ``capture_start`` ``device`` value.

    ``None`` → the default input; an ``int`` → that index; a ``str`` → the device with that
    exact name (case-insensitive), else the only one whose name contains it, else a string
    of digits as an index. Raises :class:`AudioDeviceError` naming what was asked for.
    """
    if not devices:
        raise AudioDeviceError("no audio input device found")
    if device is None:
        for info in devices:
            if info["is_default"]:
                return info
        raise AudioDeviceError("there is no default audio input device; choose one by name")
    if isinstance(device, bool):  # bool is an int subclass; True is not device 1
        raise AudioDeviceError(f"invalid device: {device!r}")
    if isinstance(device, int):
        for info in devices:
            if info["index"] == device:
                return info
        raise AudioDeviceError(f"no input device with index {device}")
    wanted = device.strip().lower()
    exact = [info for info in devices if str(info["name"]).lower() == wanted]
    if exact:
        return exact[0]
    partial = [info for info in devices if wanted and wanted in str(info["name"]).lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        names = ", ".join(repr(info["name"]) for info in partial)
        raise AudioDeviceError(f"input device name {device!r} is ambiguous: {names}")
    if wanted.isdigit():
        return resolve_input_device(devices, int(wanted))
    raise AudioDeviceError(f"no input device named {device!r}")
