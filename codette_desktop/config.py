"""Typed settings: one object, loaded from the user's settings file, then ``CODETTE_*``
environment variables, then command-line flags (each later source wins), and passed
explicitly to whoever needs it. Nothing here is global.

Where things live (``CODETTE_DATA_DIR`` moves all of it):
    <data_dir>/settings.json   the settings the dashboard saves
    <data_dir>/memory.sqlite3  chat memory
    <data_dir>/logs/server.log rotating log
The numba cache goes to the per-user cache folder (``CODETTE_CACHE_DIR`` overrides).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from codette_desktop.errors import ConfigError

APP_NAME = "codette-desktop"
MIB = 1024 * 1024

DEFAULT_ALLOWED_ORIGINS: tuple[str, ...] = tuple(
    f"http://{host}:{port}"
    # Vite dev (5173, moving up when busy), vite preview (4173), CRA/Next (3000).
    for port in (5173, 5174, 5175, 4173, 3000)
    for host in ("localhost", "127.0.0.1")
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Time a local model gets to start answering (connecting and its first token) before the
# built-in engine answers instead. The first token waits until the whole prompt is read:
# SmolLM2-135M read the builder's ~420-token prompt in 1.7-3.8 s on 2 shared cores
# (4-9 ms a token, bench/llm_bench.py). A 7B model does ~50x that work per token;
# llama.cpp on a 4-core laptop CPU is commonly reported at 20-30 prompt tokens/s (15-21 s
# for this prompt), on a 6-8 core desktop 50+ (under 10 s), and Ollama or LM Studio may
# first spend up to ~10 s loading the model. 30 s covers the laptop with a cold load; a
# 2-core machine is too slow for a 7B model whatever the timeout (90 s or more here).
DEFAULT_LLM_TIMEOUT_S = 30.0


def default_data_dir() -> Path:
    override = os.environ.get("CODETTE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_cache_dir() -> Path:
    override = os.environ.get("CODETTE_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the bundle when frozen, at the repo root otherwise."""
    override = os.environ.get("CODETTE_RESOURCES_DIR")
    if override:
        return Path(override)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """Everything the user can set. Construct through :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Binding to anything but loopback exposes the server to the network: explicit opt-in.
    allow_non_loopback: bool = False
    allowed_origins: tuple[str, ...] = DEFAULT_ALLOWED_ORIGINS
    # "Origin: null" is sent by file:// pages (an Electron build) but also by sandboxed
    # iframes of any site: only when the user says so.
    allow_null_origin: bool = False
    # Extra names accepted in the Host header besides loopback (DNS-rebinding defence).
    allowed_hosts: tuple[str, ...] = ()
    auth_token: str | None = None
    status_interval_s: float = 2.0
    max_message_bytes: int = 1 * MIB
    max_audio_message_bytes: int = 128 * MIB
    # Audio files sent as themselves (binary frames, or an HTTP body): no base64, no JSON.
    max_upload_bytes: int = 512 * MIB
    rate_limit_per_s: float = 1000.0
    max_concurrent_analyses: int = 2
    # Connections at once (WebSocket and HTTP); kept below the open-file limit.
    max_connections: int = 4096
    # Chat memory retention: the oldest messages go beyond either limit.
    memory_max_mb: float = 200.0
    memory_max_age_days: float = 365.0
    # Master switch for clients; pages also need the user's consent per origin, native
    # clients the capture token (protocol/consent.py).
    allow_client_capture: bool = True
    capture_allowed_origins: tuple[str, ...] = ()  # "Always" answers
    capture_denied_origins: tuple[str, ...] = ()  # "Deny" answers
    start_at_login: bool = False
    start_minimised: bool = False
    log_level: str = "INFO"
    # A local model (Ollama, LM Studio, llama.cpp's server) at an OpenAI-compatible base
    # URL such as http://127.0.0.1:11434/v1; empty: the built-in engine answers alone.
    llm_url: str = ""
    llm_model: str = ""  # empty: the server's first model
    # Sent only as an Authorization header to llm_url: never logged, never shown.
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout_s: float = DEFAULT_LLM_TIMEOUT_S
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Settings whose value came from CODETTE_* or a flag and was not changed since: saving
    # keeps the file's own value for them, so `--port 0` never ends up in settings.json.
    overridden: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def ws_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/ws"

    @property
    def settings_path(self) -> Path:
        return self.data_dir / "settings.json"

    @property
    def memory_path(self) -> Path:
        return self.data_dir / "memory.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def capture_token_path(self) -> Path:
        return self.data_dir / "capture-token"

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``; a setting given a new value is no longer overridden."""
        changed = {k for k, v in changes.items() if getattr(self, k) != v}
        return dataclasses.replace(self, overridden=self.overridden - changed, **changes)

    def to_json(self) -> dict[str, Any]:
        """The user-editable part, as saved in settings.json (paths are not saved)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("data_dir", "cache_dir", "overridden"):
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def validate(s: Settings) -> None:
    if not isinstance(s.port, int) or isinstance(s.port, bool) or not 0 <= s.port <= 65535:
        raise ConfigError(f"port must be an integer from 0 to 65535, not {s.port!r}")
    if not s.host:
        raise ConfigError("host must not be empty")
    if not is_loopback(s.host) and not s.allow_non_loopback:
        raise ConfigError(
            f"host {s.host!r} is not a loopback address; set allow_non_loopback to expose "
            "the server to the network"
        )
    for origin in s.allowed_origins:
        if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
            raise ConfigError(f"allowed origin {origin!r} must start with http:// or https://")
        if origin.endswith("/"):
            raise ConfigError(f"allowed origin {origin!r} must not end with '/'")
    for origin in (*s.capture_allowed_origins, *s.capture_denied_origins):
        if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
            raise ConfigError(f"capture origin {origin!r} must start with http:// or https://")
    if not 0.1 <= s.status_interval_s <= 3600:
        raise ConfigError(f"status_interval_s must be 0.1 to 3600, not {s.status_interval_s!r}")
    if s.max_message_bytes < 1024:
        raise ConfigError("max_message_bytes must be at least 1024")
    if s.max_audio_message_bytes < 64 * MIB:
        raise ConfigError("max_audio_message_bytes must be at least 64 MiB (the contract)")
    if s.max_upload_bytes < 1 * MIB:
        raise ConfigError("max_upload_bytes must be at least 1 MiB")
    if s.rate_limit_per_s <= 0:
        raise ConfigError("rate_limit_per_s must be positive")
    if not 1 <= s.max_connections <= 1_000_000:
        raise ConfigError("max_connections must be 1 to 1000000")
    if not 1 <= s.memory_max_mb <= 1_000_000:
        raise ConfigError("memory_max_mb must be 1 to 1000000")
    if not 1 <= s.memory_max_age_days <= 36_500:
        raise ConfigError("memory_max_age_days must be 1 to 36500")
    if s.max_concurrent_analyses < 1:
        raise ConfigError("max_concurrent_analyses must be at least 1")
    if s.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {s.log_level!r}")
    if s.llm_url and not _is_http_url(s.llm_url):
        raise ConfigError(f"llm_url must be an http:// or https:// URL, not {s.llm_url!r}")
    if not 1 <= s.llm_timeout_s <= 600:
        raise ConfigError(f"llm_timeout_s must be 1 to 600, not {s.llm_timeout_s!r}")


def _is_http_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Turn a JSON/env value into the field's type, or raise ConfigError naming the field."""
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on", "0", "false",
                                                         "no", "off"):
                return raw.lower() in ("1", "true", "yes", "on")
            raise ValueError
        if target is int:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw)
        if target is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if target is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if target == "str | None":
            return None if raw in (None, "") else str(raw)
        if target == "tuple":
            if isinstance(raw, str):
                raw = [part.strip() for part in raw.split(",") if part.strip()]
            if not isinstance(raw, list | tuple) or not all(isinstance(x, str) for x in raw):
                raise ValueError
            return tuple(raw)
        if target is Path:
            return Path(str(raw)).expanduser()
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"setting {name!r} has an invalid value: {raw!r}")


_FIELD_KINDS: dict[str, Any] = {
    "host": str, "port": int, "allow_non_loopback": bool, "allowed_origins": "tuple",
    "allow_null_origin": bool, "max_connections": int, "memory_max_mb": float,
    "memory_max_age_days": float,
    "allowed_hosts": "tuple", "auth_token": "str | None", "status_interval_s": float,
    "max_message_bytes": int, "max_audio_message_bytes": int, "max_upload_bytes": int,
    "rate_limit_per_s": float,
    "max_concurrent_analyses": int, "allow_client_capture": bool, "start_at_login": bool,
    "capture_allowed_origins": "tuple", "capture_denied_origins": "tuple",
    "start_minimised": bool, "log_level": str, "data_dir": Path, "cache_dir": Path,
    "llm_url": str, "llm_model": str, "llm_api_key": "str | None", "llm_timeout_s": float,
}


def settings_from_mapping(values: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Apply known keys of ``values`` over ``base``; unknown keys are a ConfigError."""
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in _FIELD_KINDS:
            raise ConfigError(f"unknown setting {key!r}")
        changes[key] = _coerce(key, raw, _FIELD_KINDS[key])
    if "log_level" in changes:
        changes["log_level"] = changes["log_level"].upper()
    if base is None:
        return Settings(**changes)
    return base.replace(**changes)


def load_settings(
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults ← settings file ← ``CODETTE_*`` environment ← ``overrides`` (CLI flags).

    A missing settings file is fine; an unreadable or invalid one is a ConfigError whose
    message names the file, so the app can say what to fix.
    """
    env = os.environ if environ is None else environ
    base = Settings()
    path = config_path or base.settings_path
    file_values: dict[str, Any] = {}
    if path.exists():
        try:
            file_values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(file_values, dict):
            raise ConfigError(f"settings file {path} must hold a JSON object")
    env_values = {
        key[len("CODETTE_"):].lower(): value
        for key, value in env.items()
        if key.startswith("CODETTE_") and key[len("CODETTE_"):].lower() in _FIELD_KINDS
    }
    try:
        settings = settings_from_mapping(file_values, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    settings = settings_from_mapping(env_values, settings)
    settings = settings_from_mapping(dict(overrides or {}), settings)
    return dataclasses.replace(
        settings, overridden=frozenset(env_values) | frozenset(overrides or {}))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this OS user only (0700), or tighten it.

    Chat memory and the capture token live here: another local user must not read them.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file readable and writable by this OS user only (0600)."""
    if os.name == "posix" and path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


def private_secret(path: Path) -> str:
    """A random secret kept in ``path`` (0600), created on first use."""
    private_dir(path.parent)
    try:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 32:
            private_file(path)
            return secret
    except (OSError, UnicodeDecodeError):
        pass
    import secrets

    secret = secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secret + "\n")
    os.replace(tmp, path)
    return secret


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written file."""
    target = path or settings.settings_path
    private_dir(target.parent)
    values = settings.to_json()
    if settings.overridden:
        try:
            saved = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        for key in settings.overridden & values.keys():
            if isinstance(saved, dict) and key in saved:
                values[key] = saved[key]
            else:
                del values[key]
    tmp = target.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(values, indent=2) + "\n")
    os.replace(tmp, target)
    return target
