"""Typed settings: file, environment and flags, each later source winning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codette_desktop.config import (
    DEFAULT_ALLOWED_ORIGINS,
    Settings,
    is_loopback,
    load_settings,
    save_settings,
)
from codette_desktop.errors import ConfigError


def test_defaults_match_the_contract(tmp_path: Path) -> None:
    s = load_settings(environ={"CODETTE_DATA_DIR": str(tmp_path)}, config_path=tmp_path / "x")
    assert s.ws_url == "ws://127.0.0.1:8000/ws"
    assert "http://localhost:5173" in s.allowed_origins
    assert "http://127.0.0.1:3000" in s.allowed_origins
    assert "http://localhost:4173" in s.allowed_origins  # vite preview
    assert len(DEFAULT_ALLOWED_ORIGINS) == 10
    assert s.max_message_bytes == 1024 * 1024
    assert s.max_audio_message_bytes >= 64 * 1024 * 1024


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"port": 9001, "status_interval_s": 5, "log_level": "debug"}))
    s = load_settings(config_path=path, environ={"CODETTE_PORT": "9002"})
    assert (s.port, s.status_interval_s, s.log_level) == (9002, 5.0, "DEBUG")
    s = load_settings(config_path=path, environ={"CODETTE_PORT": "9002"},
                      overrides={"port": 9003})
    assert s.port == 9003


@pytest.mark.parametrize(
    "values",
    [{"port": 70000}, {"port": "eighty"}, {"port": True}, {"status_interval_s": 0},
     {"allowed_origins": ["localhost:5173"]}, {"log_level": "LOUD"}, {"bogus": 1},
     {"host": "0.0.0.0"}],
)
def test_invalid_settings_are_refused_with_a_message(tmp_path: Path,
                                                      values: dict[str, object]) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=path, environ={})
    assert str(path) in str(info.value)


def test_non_loopback_bind_needs_an_explicit_opt_in() -> None:
    with pytest.raises(ConfigError):
        Settings(host="192.168.1.10")
    assert Settings(host="0.0.0.0", allow_non_loopback=True).host == "0.0.0.0"
    assert is_loopback("::1") and is_loopback("127.0.0.2") and is_loopback("localhost")
    assert not is_loopback("example.com")


def test_corrupt_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(config_path=path, environ={})


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, port=8123, allowed_origins=("http://localhost:9999",))
    path = save_settings(s)
    assert path == tmp_path / "settings.json"
    again = load_settings(config_path=path, environ={})
    assert again.port == 8123 and again.allowed_origins == ("http://localhost:9999",)
    assert not list(tmp_path.glob("*.tmp"))


def test_flags_and_env_are_not_persisted_unless_changed(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"port": 9001}))
    s = load_settings(config_path=path, environ={"CODETTE_STATUS_INTERVAL_S": "7"},
                      overrides={"port": 0})
    assert (s.port, s.status_interval_s) == (0, 7.0)
    save_settings(s.replace(start_minimised=True), path)
    saved = json.loads(path.read_text())
    assert saved["port"] == 9001  # the file's value, not the --port 0 of this run
    assert "status_interval_s" not in saved
    assert saved["start_minimised"] is True
    save_settings(s.replace(port=8124), path)  # changed in the dialog: saved
    assert json.loads(path.read_text())["port"] == 8124


def test_llm_settings_default_to_the_built_in_engine_alone() -> None:
    s = Settings()
    assert (s.llm_url, s.llm_model, s.llm_api_key) == ("", "", None)
    assert 1 <= s.llm_timeout_s <= 600


def test_llm_settings_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"llm_url": "http://127.0.0.1:11434/v1", "llm_model": "qwen2.5:7b"}))
    s = load_settings(config_path=path, environ={"CODETTE_LLM_TIMEOUT_S": "45",
                                                 "CODETTE_LLM_API_KEY": "sk-local"})
    assert (s.llm_url, s.llm_model, s.llm_timeout_s) == (
        "http://127.0.0.1:11434/v1", "qwen2.5:7b", 45.0)
    assert s.llm_api_key == "sk-local"
    assert load_settings(config_path=path, environ={"CODETTE_LLM_API_KEY": ""}).llm_api_key is None


def test_the_llm_api_key_is_not_in_the_repr() -> None:
    s = Settings(llm_url="https://models.example:8443/v1", llm_api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(s)
    assert "llm_url='https://models.example:8443/v1'" in repr(s)


@pytest.mark.parametrize(
    "values",
    [{"llm_url": "127.0.0.1:11434/v1"}, {"llm_url": "ftp://127.0.0.1/v1"},
     {"llm_url": "http://"}, {"llm_url": "http://[::1/v1"}, {"llm_url": "http://host:port/v1"},
     {"llm_url": 11434}, {"llm_timeout_s": 0.5}, {"llm_timeout_s": 601},
     {"llm_timeout_s": "soon"}, {"llm_model": None}],
)
def test_invalid_llm_settings_are_refused_naming_the_setting(
        tmp_path: Path, values: dict[str, object]) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=next(iter(values))):
        load_settings(config_path=path, environ={})


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434/v1", "http://localhost:1234/v1",
                                 "https://gpu-box.lan/v1", "http://[::1]:8080/v1"])
def test_valid_llm_urls(url: str) -> None:
    assert Settings(llm_url=url, llm_timeout_s=1).llm_url == url
