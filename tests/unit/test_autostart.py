"""Start at login: the XDG autostart entry, written to a temp folder, never the real home."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codette_desktop.services import autostart


def test_entry_lives_under_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert autostart.entry_path(env) == tmp_path / "cfg" / "autostart" / "codette-desktop.desktop"


def test_relative_or_missing_xdg_config_home_falls_back_to_home() -> None:
    expected = Path.home() / ".config" / "autostart" / autostart.ENTRY_NAME
    assert autostart.entry_path({}) == expected
    assert autostart.entry_path({"XDG_CONFIG_HOME": "relative/dir"}) == expected


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("--port", "--port"),
        ("/home/a b/main.py", '"/home/a b/main.py"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("$HOME", '"\\$HOME"'),
        ("back\\slash", '"back\\\\slash"'),
        ("100%", "100%%"),
        ("", '""'),
    ],
)
def test_exec_arguments_are_quoted_per_desktop_entry_spec(arg: str, quoted: str) -> None:
    assert autostart.quote_exec_arg(arg) == quoted


def test_empty_command_is_refused() -> None:
    with pytest.raises(ValueError):
        autostart.exec_line([])


def test_enable_writes_a_valid_entry_and_disable_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "autostart" / autostart.ENTRY_NAME
    assert not autostart.is_enabled(path=path)
    written = autostart.enable(["/opt/py/bin/python", "/src/my app/main.py"], path=path)
    assert written == path
    assert autostart.is_enabled(path=path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert "Type=Application" in lines
    assert 'Exec=/opt/py/bin/python "/src/my app/main.py"' in lines
    assert "Name=Codette Desktop" in lines
    assert not list(path.parent.glob("*.tmp")), "the temp file is renamed into place"
    assert autostart.disable(path=path) is True
    assert not path.exists()
    assert not autostart.is_enabled(path=path)
    assert autostart.disable(path=path) is False


def test_enable_overwrites_an_old_entry(tmp_path: Path) -> None:
    path = tmp_path / autostart.ENTRY_NAME
    autostart.enable(["/old/python"], path=path)
    autostart.enable(["/new/python"], path=path, icon="/icons/codette.png")
    text = path.read_text(encoding="utf-8")
    assert "Exec=/new/python" in text
    assert "/old/python" not in text
    assert "Icon=/icons/codette.png" in text


def test_hidden_entry_counts_as_disabled(tmp_path: Path) -> None:
    path = tmp_path / autostart.ENTRY_NAME
    path.write_text("[Desktop Entry]\nType=Application\nExec=x\nHidden=true\n", encoding="utf-8")
    assert not autostart.is_enabled(path=path)


def test_set_enabled_toggles(tmp_path: Path) -> None:
    path = tmp_path / autostart.ENTRY_NAME
    autostart.set_enabled(True, path=path, command=["/bin/true"])
    assert autostart.is_enabled(path=path)
    autostart.set_enabled(False, path=path)
    assert not autostart.is_enabled(path=path)


def test_launch_command_starts_this_checkout() -> None:
    command = autostart.launch_command()
    assert command[0] == sys.executable
    assert command[-1].endswith("main.py")
    assert Path(command[-1]).is_file()


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("linux", True), ("freebsd14", True), ("win32", False), ("darwin", False)],
)
def test_supported_platforms(platform: str, expected: bool) -> None:
    assert autostart.supported(platform) is expected
