"""Live audio capture: PortAudio input, a 60 s ring buffer, level and loudness meters.

Imports ``sounddevice`` (and so PortAudio) only when it is used, so that the application
runs on machines without PortAudio; :func:`portaudio_status` says whether it is there.
"""

from codette_desktop.capture.devices import list_input_devices, portaudio_status
from codette_desktop.capture.service import CaptureService, CaptureState

__all__ = ["CaptureService", "CaptureState", "list_input_devices", "portaudio_status"]
