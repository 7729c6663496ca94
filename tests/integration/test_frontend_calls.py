"""The DAW frontend's calls, made by a page in headless Chromium against the real app.

The page is our own, served from a page origin of its own (like Vite's dev server), and
makes CoreLogic Studio's requests from FRONTEND_CONTRACT.md §1-4: the same routes, bodies,
headers (JSON content type on GETs too, ``X-Codette-Request``, ``Authorization``, so most
of them are preflighted) and its WebSocket. The browser enforces CORS: a reply the page
can read is a reply the frontend can read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from static_server import serve_static

from _chromium import Chromium, find_chromium
from app_process import running_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed"),
]

TRACK = {"id": "t1", "name": "Lead Vox", "type": "audio", "color": "#f00", "muted": False,
         "soloed": False, "armed": False, "inputGain": 0, "volume": -6, "pan": 0,
         "stereoWidth": 1, "phaseFlip": False, "inserts": [], "sends": [], "routing": "master"}
CHAT_CONTEXT = {
    "selected_track": {"id": "t1", "name": "Lead Vox", "type": "audio", "volume": -6, "pan": 0,
                       "muted": False, "soloed": False, "armed": False, "inserts": 0,
                       "sends": 0},
    "tracks": [{"id": "t1", "name": "Lead Vox", "type": "audio", "muted": False,
                "soloed": False}],
    "track_counts": {"total": 1, "audio": 1, "instrument": 0, "midi": 0, "aux": 0, "vca": 0,
                     "master": 0},
    "is_playing": False, "current_time": 0, "bpm": 120, "time_signature": "4/4",
}
# (name, method, path, body, extra headers): the frontend's requests.
CALLS: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("health", "GET", "/health", None, {}),
    ("suggest", "POST", "/codette/suggest", {"context": {"type": "general"}, "limit": 5}, {}),
    ("status", "GET", "/codette/status", None, {}),
    ("chat", "POST", "/codette/chat", {"message": "How do I make my vocal sit in the mix?",
                                       "perspective": "mix_engineering",
                                       "daw_context": CHAT_CONTEXT}, {}),
    ("menu_chat", "POST", "/codette/chat", {"message": "Explain the circle of fifths",
                                            "perspective": "mix_engineering"}, {}),
    ("history", "GET", "/api/codette/history?limit=20", None, {}),
    ("delay_sync", "GET", "/api/analysis/delay-sync?bpm=120", None, {}),
    ("genre", "POST", "/api/analysis/detect-genre", {"tracks": [TRACK]}, {}),
    ("intervals", "GET", "/api/analysis/ear-training?exercise_type=interval&difficulty=beginner",
     None, {}),
    ("checklist", "GET", "/api/analysis/production-checklist?stage=mixing", None, {}),
    ("instrument", "GET", "/api/analysis/instrument-info?category=vocals&instrument=lead",
     None, {}),
    ("gain", "POST", "/codette/analyze", {"tracks": [{"id": "t1", "level": -60, "peak": -57}]},
     {"X-Codette-Request": "true", "Authorization": "Bearer anon-key"}),
    ("session", "POST", "/codette/analyze", {
        "trackCount": 1, "totalDuration": 0, "sampleRate": 48000,
        "trackMetrics": [{"trackId": "t1", "name": "Lead Vox", "type": "audio", "level": -6,
                          "peak": -3, "plugins": []}],
        "masterLevel": -60, "masterPeak": -57, "hasClipping": False},
     {"X-Codette-Request": "true"}),
]

PAGE = """<!doctype html><title>frontend calls</title><script>
const params = new URLSearchParams(location.search);
const api = params.get('api');
const calls = JSON.parse(params.get('calls'));
window.results = {};
async function run() {
  for (const [name, method, path, body, extra] of calls) {
    const headers = {'Content-Type': 'application/json', 'Accept': 'application/json', ...extra};
    try {
      const response = await fetch(api + path, {method, headers,
        body: body === null ? undefined : JSON.stringify(body)});
      results[name] = {status: response.status, json: await response.json()};
    } catch (error) {
      results[name] = {error: String(error)};
    }
  }
  // The Memory tab shows id.slice(0, 8): a number there would throw.
  const first = (results.history.json || {interactions: []}).interactions[0];
  const memoryId = first ? (first.id.slice(0, 8), first.id) : null;
  if (memoryId) {
    const response = await fetch(api + '/api/codette/memory/' + memoryId,
                                 {headers: {'Content-Type': 'application/json'}});
    results.memory = {status: response.status, json: await response.json()};
  }
  const socket = new WebSocket(api.replace('http', 'ws') + '/ws');
  socket.onmessage = (e) => { results.ws = {first: JSON.parse(e.data).type}; socket.close(); };
  socket.onerror = () => { results.ws = {error: true}; };
  socket.onclose = () => { window.done = true; };
}
run();
</script>"""


def test_the_frontends_calls_are_readable_by_a_page(tmp_path: Path) -> None:
    from urllib.parse import quote

    with serve_static(PAGE.encode()) as origin, \
            running_app(tmp_path / "data", env={"CODETTE_ALLOWED_ORIGINS": origin}) as app, \
            Chromium(tmp_path) as browser:
        page = browser.new_page()
        page.navigate(f"{origin}/?api={quote(app.http_base)}&calls={quote(json.dumps(CALLS))}")
        page.wait_for("window.done === true", 60, what="the page's calls")
        results: dict[str, Any] = page.evaluate("window.results")
        assert page.exceptions() == []

    for name, *_ in CALLS:
        assert "error" not in results[name], (name, results[name])  # CORS let it through
        assert results[name]["status"] == 200, (name, results[name])
    r = {name: result["json"] for name, result in results.items() if "json" in result}
    assert r["health"]["status"] == "healthy"
    assert len({s["title"] for s in r["suggest"]["suggestions"]}) == len(
        r["suggest"]["suggestions"]) > 0
    assert all(0 < s["confidence"] <= 1 for s in r["suggest"]["suggestions"])
    assert all(0 <= v <= 1 for v in r["status"]["quantum_state"].values())
    assert r["chat"]["response"] and 0 < r["chat"]["confidence"] <= 1
    assert r["menu_chat"]["response"]
    interactions = r["history"]["interactions"]
    assert any("vocal sit in the mix" in i["content"] for i in interactions)
    assert all(isinstance(i["id"], str) for i in interactions)
    assert results["memory"]["status"] == 200
    assert all(isinstance(ms, int | float) for ms in r["delay_sync"]["divisions"].values())
    assert isinstance(r["genre"]["detected_genre"], str)
    assert all(isinstance(c, str) for c in r["genre"]["candidates"])
    assert r["intervals"]["exercises"][0]["name"]
    assert r["checklist"]["sections"]
    first = next(iter(r["instrument"]["data"].values()))
    assert isinstance(first, str) and first
    for name in ("gain", "session"):
        assert r[name]["prediction"] and 0 <= r[name]["confidence"] <= 1
        assert isinstance(r[name]["recommendations"], list)
        assert isinstance(r[name]["findings"], list)
    assert results["ws"] == {"first": "connection"}
