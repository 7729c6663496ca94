"""Start at login, without Qt: an XDG autostart entry on Linux (and other free desktops).

    ~/.config/autostart/codette-desktop.desktop   ($XDG_CONFIG_HOME moves it)

Follows the XDG Autostart spec (a Desktop Entry file in ``$XDG_CONFIG_HOME/autostart``)
and the Desktop Entry spec for quoting the ``Exec`` key. Only Linux/BSD desktops are
handled here; on other platforms :func:`supported` is false and the packaging issue adds
its own mechanism (the installer's Run key, a LaunchAgent).

Every function takes the paths it touches as keyword arguments so tests never write to
the real home folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ENTRY_NAME = "codette-desktop.desktop"
APP_TITLE = "Codette Desktop"

# Desktop Entry spec, "The Exec key": these characters force an argument into double
# quotes, and inside quotes `"`, "`", "$" and "\" take a backslash.
_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')
_ESCAPED_IN_QUOTES = '"`$\\'


def supported(platform: str | None = None) -> bool:
    """Whether this module can manage start-at-login on ``platform`` (default: this one)."""
    name = platform or sys.platform
    return name.startswith(("linux", "freebsd", "openbsd", "netbsd"))


def autostart_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    config_home = env.get("XDG_CONFIG_HOME") or ""
    # The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    base = Path(config_home) if os.path.isabs(config_home) else Path.home() / ".config"
    return base / "autostart"


def entry_path(environ: Mapping[str, str] | None = None) -> Path:
    return autostart_dir(environ) / ENTRY_NAME


def quote_exec_arg(arg: str) -> str:
    """Quote one argument for an ``Exec`` line (and double ``%``, the field-code sigil)."""
    arg = arg.replace("%", "%%")
    if arg and not any(ch in _RESERVED for ch in arg):
        return arg
    escaped = "".join("\\" + ch if ch in _ESCAPED_IN_QUOTES else ch for ch in arg)
    return f'"{escaped}"'


def exec_line(command: Sequence[str]) -> str:
    if not command:
        raise ValueError("the autostart command must not be empty")
    return " ".join(quote_exec_arg(arg) for arg in command)


def launch_command() -> list[str]:
    """How to start this very installation: the bundle, the console script or main.py."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    main_py = Path(__file__).resolve().parents[2] / "main.py"
    if main_py.is_file():
        return [sys.executable, str(main_py)]
    script = shutil.which("codette-desktop")
    if script:
        return [script]
    return [sys.executable, "-m", "codette_desktop.app"]


def desktop_entry(command: Sequence[str], *, icon: str | None = None) -> str:
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={APP_TITLE}",
        "Comment=Local companion server for browser DAWs",
        f"Exec={exec_line(command)}",
        "Terminal=false",
        "Categories=AudioVideo;Audio;",
        "X-GNOME-Autostart-enabled=true",
    ]
    if icon:
        lines.insert(5, f"Icon={icon}")
    return "\n".join(lines) + "\n"


def is_enabled(*, path: Path | None = None) -> bool:
    """True when our entry exists and is not switched off with ``Hidden=true``."""
    target = path or entry_path()
    try:
        text = target.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return False
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "Hidden" and value.strip().lower() == "true":
            return False
    return True


def enable(
    command: Sequence[str] | None = None, *, path: Path | None = None, icon: str | None = None
) -> Path:
    """Write the entry atomically (temp file + rename); returns its path."""
    target = path or entry_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(desktop_entry(command or launch_command(), icon=icon), encoding="utf-8")
    os.replace(tmp, target)
    return target


def disable(*, path: Path | None = None) -> bool:
    """Remove the entry; False when there was none."""
    target = path or entry_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


def set_enabled(enabled: bool, *, path: Path | None = None,
                command: Sequence[str] | None = None) -> None:
    if enabled:
        enable(command, path=path)
    else:
        disable(path=path)
