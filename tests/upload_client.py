"""Uploads an audio file to the app from a process of its own, so a test can time another
client's pings without this one's work (masking, sending) competing in the same process.

    python tests/upload_client.py ws|json|http URL FILE [analysis_type]

(``json`` sends the format its suffix names; the others send WAV.)

Prints one JSON line: the WebSocket replies to the upload (progress and the analysis), or
the HTTP status, CORS header and body.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
from urllib.parse import urlsplit

from websockets.sync.client import connect

CHUNK = 256 * 1024


def over_websocket(url: str, audio: bytes, analysis_type: str) -> dict:
    replies = []
    with connect(url, max_size=None, open_timeout=30) as ws:
        ws.recv()  # the welcome
        ws.send(json.dumps({"type": "analyze", "id": "up", "analysis_type": analysis_type,
                            "upload": {"format": "wav", "size": len(audio)},
                            "track_data": {"track_name": "Upload"}}))
        for offset in range(0, len(audio), CHUNK):
            ws.send(audio[offset:offset + CHUNK])
        while True:
            reply = json.loads(ws.recv(timeout=300))
            if reply.get("id") != "up":
                continue
            replies.append(reply)
            if reply["type"] != "analysis_progress":
                return {"replies": replies}


def as_base64_json(url: str, audio: bytes, analysis_type: str, fmt: str = "wav") -> dict:
    """The older path: the file as base64 inside one JSON ``analyze`` message."""
    with connect(url, max_size=None, open_timeout=30) as ws:
        ws.recv()  # the welcome
        ws.send(json.dumps({"type": "analyze", "id": "up", "analysis_type": analysis_type,
                            "audio": {"format": fmt,
                                      "data": base64.b64encode(audio).decode()}}))
        while True:
            reply = json.loads(ws.recv(timeout=300))
            if reply.get("id") == "up" or reply["type"] == "error":
                return {"replies": [reply]}


def over_http(url: str, audio: bytes, analysis_type: str) -> dict:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    conn.putrequest("POST", f"/codette/analyze?analysis_type={analysis_type}&track_name=Mix")
    conn.putheader("Content-Type", "audio/wav")
    conn.putheader("Content-Length", str(len(audio)))
    conn.putheader("Origin", "http://localhost:5173")
    conn.endheaders()
    for offset in range(0, len(audio), CHUNK):
        conn.send(audio[offset:offset + CHUNK])
    response = conn.getresponse()
    body = json.loads(response.read())
    return {"status": response.status, "cors": response.getheader("access-control-allow-origin"),
            "body": body}


if __name__ == "__main__":
    kind, url, path = sys.argv[1:4]
    analysis_type = sys.argv[4] if len(sys.argv) > 4 else "loudness"
    with open(path, "rb") as f:
        data = f.read()
    if kind == "json":  # the format named by the file's suffix
        result = as_base64_json(url, data, analysis_type, path.rsplit(".", 1)[-1])
    else:
        result = {"ws": over_websocket, "http": over_http}[kind](url, data, analysis_type)
    print(json.dumps(result))
