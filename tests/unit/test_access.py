"""Who may talk to the server: Host/Origin/token checks and CORS, without sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from codette_desktop.config import Settings
from codette_desktop.server.access import AccessControl, RequestHead, WindowedLog, host_name


def make_access(tmp_path: Path, **settings: object) -> AccessControl:
    current = Settings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    return AccessControl(lambda: current, lambda: 8000)


def head(path: str = "/ws", method: str = "GET", query: str = "",
         **headers: str | list[str]) -> RequestHead:
    items: list[tuple[str, str]] = [("host", "127.0.0.1:8000")] if "Host" not in headers else []
    for key, value in headers.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((key.replace("_", "-").lower(), one))
    return RequestHead(method=method, path=path, query=query, headers=tuple(items))


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("LOCALHOST", "localhost"),
     ("evil.example:80", "evil.example"), ("::1", "::1")],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("host", ["evil.example", "192.168.1.5:8000", "127.0.0.1.nip.io", ""])
def test_foreign_host_header_is_forbidden(tmp_path: Path, host: str) -> None:
    refusal = make_access(tmp_path).check(head(Host=host))
    assert refusal is not None and (refusal.status, refusal.kind) == (403, "host")


def test_configured_host_name_is_allowed(tmp_path: Path) -> None:
    access = make_access(tmp_path, allowed_hosts=("studio.local",))
    assert access.check(head(Host="studio.local:8000")) is None


@pytest.mark.parametrize("name", ["Host", "Origin"])
def test_repeated_identity_headers_are_a_bad_request(tmp_path: Path, name: str) -> None:
    values = ["127.0.0.1:8000", "evil.example"] if name == "Host" else \
        ["http://localhost:5173", "http://evil.example"]
    refusal = make_access(tmp_path).check(head(**{name: values}))
    assert refusal is not None and refusal.status == 400


@pytest.mark.parametrize("origin", [
    "http://localhost:5173", "http://127.0.0.1:5174", "http://localhost:5175",
    "http://localhost:4173", "http://127.0.0.1:3000",
    "http://127.0.0.1:8000",  # the bundled test page on our own port
])
def test_default_origins_are_allowed(tmp_path: Path, origin: str) -> None:
    access = make_access(tmp_path)
    assert access.check(head(Origin=origin)) is None
    assert ("access-control-allow-origin", origin) in access.cors_headers(origin)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5173.evil.example",
                                    "https://localhost:5173", "null"])
def test_other_origins_are_forbidden_for_http_and_ws_alike(tmp_path: Path, origin: str) -> None:
    access = make_access(tmp_path)
    for path, method in (("/ws", "GET"), ("/codette/chat", "POST"), ("/health", "GET")):
        refusal = access.check(head(path, method, Origin=origin))
        assert refusal is not None and (refusal.status, refusal.kind) == (403, "origin")
    assert access.cors_headers(origin) == []


def test_null_origin_only_when_the_user_allows_it(tmp_path: Path) -> None:
    assert make_access(tmp_path).check(head(Origin="null")) is not None
    access = make_access(tmp_path, allow_null_origin=True)
    assert access.check(head(Origin="null")) is None
    assert ("access-control-allow-origin", "null") in access.cors_headers("null")


def test_native_clients_without_origin_are_allowed_and_get_no_cors(tmp_path: Path) -> None:
    access = make_access(tmp_path)
    assert access.check(head()) is None
    assert access.cors_headers(None) == []


def test_origins_are_read_live_from_the_current_settings(tmp_path: Path) -> None:
    current = [Settings(data_dir=tmp_path)]
    access = AccessControl(lambda: current[0], lambda: 8000)
    assert access.check(head(Origin="http://localhost:9999")) is not None
    current[0] = current[0].replace(
        allowed_origins=(*current[0].allowed_origins, "http://localhost:9999"))
    assert access.check(head(Origin="http://localhost:9999")) is None


def test_preflight_names_the_methods_and_the_frontends_headers(tmp_path: Path) -> None:
    access = make_access(tmp_path)
    headers = dict(access.preflight_headers("http://localhost:5173"))
    assert dict(access.cors_headers("http://localhost:5173"))[
        "access-control-allow-origin"] == "http://localhost:5173"
    for needed in ("content-type", "accept", "x-codette-request", "authorization"):
        assert needed in headers["access-control-allow-headers"]
    assert "POST" in headers["access-control-allow-methods"]


def test_token_when_required(tmp_path: Path) -> None:
    access = make_access(tmp_path, auth_token="s3cret")
    denied = access.check(head())
    assert denied is not None and (denied.status, denied.kind) == (403, "token")
    assert access.check(head(query="token=s3cret")) is None
    assert access.check(head(Authorization="Bearer s3cret")) is None
    assert access.check(head(Authorization="Bearer wrong")) is not None
    # Health, the test page and preflights need none (preflights carry no credentials).
    assert access.check(head("/health")) is None
    assert access.check(head("/codette/chat", "OPTIONS")) is None
    assert access.check(head("/codette/chat", "POST")) is not None


def test_windowed_log_says_each_thing_once_per_window_and_counts_repeats() -> None:
    now = [0.0]
    said: list[str] = []
    log = WindowedLog(said.append, window_s=60, clock=lambda: now[0])
    assert log(("origin", "http://a"), "refused a")
    assert not log(("origin", "http://a"), "refused a")
    assert log(("origin", "http://b"), "refused b")  # another key is its own
    now[0] = 61.0
    assert log(("origin", "http://a"), "refused a")
    assert said == ["refused a", "refused b", "refused a (and 1 more like it in the last 60 s)"]


def test_windowed_log_never_goes_silent_for_good_after_many_keys() -> None:
    now = [0.0]
    said: list[str] = []
    log = WindowedLog(said.append, window_s=10, max_keys=100, clock=lambda: now[0])
    for n in range(1000):
        log(("origin", str(n)), f"refused {n}")
    assert len(said) == 1000  # every distinct origin is said once
    now[0] = 11.0
    assert log(("origin", "0"), "refused 0 again")
