"""The handshake screen (Host/Origin/route checks) without sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from codette_desktop.config import Settings
from codette_desktop.server.http import RequestScreen, host_name


def make_screen(tmp_path: Path, **settings: object) -> RequestScreen:
    return RequestScreen(
        Settings(data_dir=tmp_path, **settings),  # type: ignore[arg-type]
        health=lambda: {"status": "healthy"}, resources=tmp_path, port=lambda: 8000,
    )


def request(path: str, method: str = "GET", **headers: str) -> Request:
    h = Headers()
    h["Host"] = headers.pop("Host", "127.0.0.1:8000")
    for key, value in headers.items():
        h[key.replace("_", "-")] = value
    return Request(path, h, method)


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade"}


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("LOCALHOST", "localhost"),
     ("evil.example:80", "evil.example"), ("::1", "::1")],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_health_answers_get_and_head_only(tmp_path: Path) -> None:
    screen = make_screen(tmp_path)
    get = screen(request("/health"))
    assert get is not None and get.status_code == 200
    assert json.loads(get.body)["status"] == "healthy"
    head = screen(request("/health", "HEAD"))
    assert head is not None and head.status_code == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(get.body))
    post = screen(request("/health", "POST"))
    assert post is not None and post.status_code == 405


@pytest.mark.parametrize("host", ["evil.example", "192.168.1.5:8000", "127.0.0.1.nip.io"])
def test_foreign_host_header_is_forbidden(tmp_path: Path, host: str) -> None:
    response = make_screen(tmp_path)(request("/ws", Host=host, **UPGRADE))
    assert response is not None and response.status_code == 403


def test_configured_host_name_is_allowed(tmp_path: Path) -> None:
    screen = make_screen(tmp_path, allowed_hosts=("studio.local",))
    assert screen(request("/ws", Host="studio.local:8000", **UPGRADE)) is None


def test_origin_allow_list(tmp_path: Path) -> None:
    screen = make_screen(tmp_path)
    assert screen(request("/ws", Origin="http://localhost:5173", **UPGRADE)) is None
    assert screen(request("/ws", Origin="http://127.0.0.1:8000", **UPGRADE)) is None  # own page
    assert screen(request("/ws", **UPGRADE)) is None  # native client, no Origin
    forged = screen(request("/ws", Origin="http://evil.example", **UPGRADE))
    assert forged is not None and forged.status_code == 403


def test_token_when_required(tmp_path: Path) -> None:
    screen = make_screen(tmp_path, auth_token="s3cret")
    denied = screen(request("/ws", **UPGRADE))
    assert denied is not None and denied.status_code == 403
    assert screen(request("/ws?token=s3cret", **UPGRADE)) is None
    assert screen(request("/ws", Authorization="Bearer s3cret", **UPGRADE)) is None


def test_routes(tmp_path: Path) -> None:
    screen = make_screen(tmp_path)
    missing = screen(request("/nope"))
    assert missing is not None and missing.status_code == 404
    plain = screen(request("/ws"))
    assert plain is not None and 400 <= plain.status_code < 500
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<h1>Codette</h1>")
    page = screen(request("/"))
    assert page is not None and page.status_code == 200 and b"Codette" in page.body
