"""PyInstaller runtime hook: make sounddevice load the PortAudio copied into the bundle.

sounddevice opens PortAudio by name (``ctypes.util.find_library("portaudio")``), which on
Linux asks ``ldconfig`` and so only sees a system-wide libportaudio2. This hook runs before
the app's code and answers that one question with the bundled ``libportaudio.so.2``, so
the bundle also works where libportaudio2 is not installed. Other names are untouched.
"""

import ctypes.util
import os
import sys

_meipass = getattr(sys, "_MEIPASS", None)
if _meipass and sys.platform.startswith("linux"):
    _bundled = os.path.join(_meipass, "libportaudio.so.2")
    if os.path.isfile(_bundled):
        _system_find_library = ctypes.util.find_library

        def _find_library(name, _orig=_system_find_library, _path=_bundled):
            if name == "portaudio":
                return _path
            return _orig(name)

        ctypes.util.find_library = _find_library
