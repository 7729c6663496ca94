"""packaging/install-linux.sh and uninstall-linux.sh, run for real with HOME in a temp dir.

The bundle here is a stand-in (an executable script plus the real icons) so these tests do
not need a PyInstaller build; tests/integration/test_bundle.py installs the real bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codette_desktop.services import autostart

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
INSTALL = PACKAGING / "install-linux.sh"
UNINSTALL = PACKAGING / "uninstall-linux.sh"
APP = "codette-desktop"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def make_bundle(parent: Path, version: str = "9.9.9") -> Path:
    """A folder shaped like the PyInstaller bundle, with a fake executable."""
    bundle = parent / f"{APP}-{version}"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    shutil.copytree(REPO / "resources" / "icons", bundle / "_internal" / "resources" / "icons")
    exe = bundle / APP
    exe.write_text(f'#!/bin/sh\necho "{APP} {version} $*"\n')
    exe.chmod(0o755)
    return bundle


def run(script: Path, *args: str, home: Path, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    full_env.update(HOME=str(home), PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    full_env.update(env or {})
    result = subprocess.run(["bash", str(script), *args], env=full_env, capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def parse_desktop_entry(path: Path) -> dict[str, str]:
    """The [Desktop Entry] group as a dict; fails on malformed lines."""
    group: str | None = None
    entry: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep and group is not None, f"malformed line {raw!r} in {path}"
        if group == "Desktop Entry":
            assert key.strip() not in entry, f"duplicate key {key!r}"
            entry[key.strip()] = value.strip()
    return entry


def split_exec(value: str) -> list[str]:
    """Unquote an Exec value per the Desktop Entry spec (string escapes, then quoting)."""
    value = value.replace("\\\\", "\\")  # the string-level escape
    args: list[str] = []
    current: list[str] = []
    quoted = in_arg = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\" and i + 1 < len(value):
                current.append(value[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = in_arg = True
        elif ch == " ":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(ch)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


def check_desktop_file(path: Path) -> dict[str, str]:
    entry = parse_desktop_entry(path)
    for key in ("Type", "Name", "Exec", "Icon"):
        assert entry.get(key), f"{path} has no {key}"
    assert entry["Type"] == "Application"
    assert entry["Icon"] == APP
    assert "@" not in "".join(entry.values()), f"unsubstituted placeholder in {entry}"
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    return entry


def installed_paths(home: Path) -> dict[str, Path]:
    share = home / ".local" / "share"
    paths = {
        "opt": home / ".local" / "opt" / APP,
        "bin": home / ".local" / "bin" / APP,
        "desktop": share / "applications" / f"{APP}.desktop",
    }
    for size in ICON_SIZES:
        icon_dir = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        paths[f"icon{size}"] = icon_dir / f"{APP}.png"
    return paths


def exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[Path]:
    yield make_bundle(tmp_path / "dist")


def enable_autostart(home: Path) -> Path:
    """Turn on "Start at login" the way the app does (same module, same file name)."""
    path = autostart.entry_path({"XDG_CONFIG_HOME": str(home / ".config")})
    assert path == home / ".config" / "autostart" / f"{APP}.desktop"
    autostart.enable([str(home / ".local" / "bin" / APP)], path=path)
    return path


def test_install_then_uninstall(home: Path, bundle: Path) -> None:
    result = run(INSTALL, "--bundle", str(bundle), home=home)
    assert "installed Codette Desktop 9.9.9" in result.stdout
    paths = installed_paths(home)
    for name, path in paths.items():
        assert exists(path), f"{name}: {path} was not installed"

    # A copy (not a link) of the bundle, and the command runs it.
    assert paths["opt"].is_dir() and not paths["opt"].is_symlink()
    assert paths["bin"].is_symlink() and paths["bin"].resolve() == paths["opt"] / APP
    assert subprocess.run([str(paths["bin"]), "--version"], capture_output=True,
                          text=True).stdout.strip() == f"{APP} 9.9.9 --version"

    entry = check_desktop_file(paths["desktop"])
    assert split_exec(entry["Exec"]) == [str(paths["opt"] / APP)]
    assert entry["TryExec"] == str(paths["opt"] / APP)
    assert entry["X-Codette-Version"] == "9.9.9"
    assert paths["icon256"].read_bytes() == (REPO / "resources/icons/codette-256.png").read_bytes()

    autostart_entry = enable_autostart(home)
    data = home / ".local" / "share" / APP
    (data / "logs").mkdir(parents=True)
    (data / "settings.json").write_text("{}")

    result = run(UNINSTALL, home=home)
    assert "uninstalled" in result.stdout
    for name, path in paths.items():
        assert not exists(path), f"{name}: {path} is still there"
    assert not exists(autostart_entry)
    assert bundle.is_dir(), "uninstall must not touch the bundle it was installed from"
    # Without --purge the user's data stays.
    assert (data / "settings.json").is_file()
    assert "--purge" in result.stdout


def test_uninstall_purge_removes_data_and_cache(home: Path, bundle: Path) -> None:
    run(INSTALL, "--bundle", str(bundle), home=home)
    data = home / ".local" / "share" / APP
    cache = home / ".cache" / APP / "numba"
    data.mkdir(parents=True)
    cache.mkdir(parents=True)
    enable_autostart(home)
    run(INSTALL, "--uninstall", "--purge", home=home)
    assert not exists(data) and not exists(cache.parent)
    assert not any(exists(p) for p in installed_paths(home).values())
    assert not exists(home / ".config" / "autostart" / f"{APP}.desktop")
    assert not exists(home / ".local" / "opt"), "the empty ~/.local/opt is tidied up"


def test_link_mode_and_reinstall(home: Path, bundle: Path) -> None:
    run(INSTALL, "--bundle", str(bundle), "--link", home=home)
    paths = installed_paths(home)
    assert paths["opt"].is_symlink() and paths["opt"].resolve() == bundle.resolve()
    # Installing again (a newer bundle, copied this time) replaces the link.
    newer = make_bundle(home.parent / "dist2", "9.9.10")
    run(INSTALL, "--bundle", str(newer), home=home)
    assert paths["opt"].is_dir() and not paths["opt"].is_symlink()
    assert parse_desktop_entry(paths["desktop"])["X-Codette-Version"] == "9.9.10"
    run(UNINSTALL, home=home)
    assert not any(exists(p) for p in paths.values())
    assert (bundle / APP).is_file(), "removing a linked install keeps the bundle"


def test_installer_inside_the_bundle(home: Path, bundle: Path) -> None:
    """The build copies the scripts and the template into the bundle; they work from there."""
    for script in ("install-linux.sh", "uninstall-linux.sh"):
        shutil.copy2(PACKAGING / script, bundle / script)
    shutil.copytree(PACKAGING / "linux", bundle / "linux")
    run(bundle / "install-linux.sh", home=home)
    paths = installed_paths(home)
    assert all(exists(p) for p in paths.values())
    # The installed copy carries its own uninstaller.
    run(paths["opt"] / "uninstall-linux.sh", home=home)
    assert not any(exists(p) for p in paths.values())


def test_foreign_command_is_left_alone(home: Path, bundle: Path) -> None:
    foreign = home / ".local" / "bin" / APP
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\n# pip --user console script\n")
    result = run(INSTALL, "--bundle", str(bundle), home=home, check=False)
    assert result.returncode != 0 and "not ours" in result.stderr
    assert not exists(installed_paths(home)["desktop"])
    # --force replaces it; uninstall then removes our link.
    run(INSTALL, "--bundle", str(bundle), "--force", home=home)
    assert foreign.is_symlink()
    run(UNINSTALL, home=home)
    assert not exists(foreign)
    # A foreign file that appears later survives uninstall.
    foreign.write_text("#!/bin/sh\n")
    result = run(UNINSTALL, home=home)
    assert foreign.is_file() and "not ours" in result.stdout


def test_awkward_home_path_and_xdg_dirs(tmp_path: Path) -> None:
    home = tmp_path / "my home $dir \"q\" back\\slash 100% &"
    home.mkdir()
    bundle = make_bundle(tmp_path / "dist")
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg data"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg config")}
    run(INSTALL, "--bundle", str(bundle), home=home, env=xdg)
    desktop = tmp_path / "xdg data" / "applications" / f"{APP}.desktop"
    entry = check_desktop_file(desktop)
    exe = home / ".local" / "opt" / APP / APP
    assert entry["Exec"].startswith('"'), "a path with spaces must be quoted"
    assert split_exec(entry["Exec"]) == [str(exe)]
    assert (tmp_path / "xdg data/icons/hicolor/256x256/apps" / f"{APP}.png").is_file()

    autostart_entry = autostart.entry_path({"XDG_CONFIG_HOME": xdg["XDG_CONFIG_HOME"]})
    autostart.enable([str(exe)], path=autostart_entry)
    run(UNINSTALL, home=home, env=xdg)
    assert not exists(desktop) and not exists(autostart_entry)
    assert not exists(exe)


def test_missing_bundle_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    result = run(INSTALL, "--bundle", str(tmp_path / "nope"), home=home, check=False)
    assert result.returncode != 0 and "no such folder" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(INSTALL, "--bundle", str(empty), home=home, check=False)
    assert result.returncode != 0 and "no executable" in result.stderr
    assert not any(exists(p) for p in installed_paths(home).values())


def test_desktop_template_has_the_required_keys() -> None:
    entry = parse_desktop_entry(PACKAGING / "linux" / f"{APP}.desktop")
    assert {"Type", "Name", "Exec", "Icon", "Categories"} <= entry.keys()
    assert entry["Exec"] == "@EXEC@"
