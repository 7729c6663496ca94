"""Session reviews for the AI panel's POST /codette/analyze bodies, on the shipped KB.

The bodies are built exactly as AIPanel.tsx builds them from the DAW's tracks (level =
``volume || -60``, peak = level + 3, plugins mapped to 'Unknown', hasClipping = some
volume above -1), so the honesty rules are tested on what the frontend really sends.
"""

from __future__ import annotations

import json

import pytest

from codette_desktop.config import resources_dir
from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.session_review import SHAPES, review, shape_of
from codette_desktop.errors import ProtocolError

REPLY_KEYS = {
    "prediction",
    "confidence",
    "actionItems",
    "recommendations",
    "findings",
    "quality_score",
    "analysis",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(resources_dir() / "knowledge")


def daw_track(name: str, volume: float, kind: str = "audio", inserts: int = 0) -> dict:
    plugins = [{"id": f"p{i}", "name": f"Plugin {i}", "type": "eq"} for i in range(inserts)]
    return {"id": f"id-{name}", "name": name, "type": kind, "volume": volume, "inserts": plugins}


def level(track: dict) -> float:
    return track["volume"] or -60  # JavaScript's `volume || -60`: unity 0 becomes -60


def gain_body(tracks: list[dict]) -> dict:
    return {"tracks": [{"id": t["id"], "level": level(t), "peak": level(t) + 3} for t in tracks]}


def chain_body(track: dict) -> dict:
    return {
        "trackType": track["type"],
        "metrics": {
            "level": level(track),
            "peak": level(track) + 3,
            "plugins": ["Unknown"] * len(track["inserts"]),
        },
    }


def routing_body(tracks: list[dict]) -> dict:
    return {
        "trackCount": len(tracks),
        "trackTypes": [t["type"] for t in tracks],
        "hasAux": any(t["type"] == "aux" for t in tracks),
    }


def session_body(tracks: list[dict]) -> dict:
    levels = [level(t) for t in tracks]
    master = max([*levels, -60])
    return {
        "trackCount": len(tracks),
        "totalDuration": 0,
        "sampleRate": 48000,
        "trackMetrics": [
            {
                "trackId": t["id"],
                "name": t["name"],
                "type": t["type"],
                "level": level(t),
                "peak": level(t) + 3,
                "plugins": ["Unknown"] * len(t["inserts"]),
            }
            for t in tracks
        ],
        "masterLevel": master,
        "masterPeak": master + 3,
        "hasClipping": any((t["volume"] or -60) > -1 for t in tracks),
    }


UNITY_SESSION = [
    daw_track("Kick", 0),
    daw_track("808", 0, "instrument"),
    daw_track("Lead Vox", 0, inserts=2),
    daw_track("Pad", 0, "instrument"),
]


def texts(reply: dict) -> str:
    return " ".join([*reply["findings"], *reply["recommendations"]]).lower()


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        (gain_body(UNITY_SESSION), "gain_staging"),
        (chain_body(UNITY_SESSION[2]), "mixing_chain"),
        (routing_body(UNITY_SESSION), "routing"),
        (session_body(UNITY_SESSION), "full_session"),
        ({"masterLevel": -3, "masterPeak": 0, "hasClipping": False}, "mastering"),
    ],
)
def test_every_panel_body_is_recognised_and_answered_in_full(kb, body, shape) -> None:
    assert shape_of(body) == shape
    reply = review(body, kb=kb)
    assert set(reply) >= REPLY_KEYS
    assert reply["analysis_type"] == shape
    analysis = reply["analysis"]
    # The panel reads `data.analysis || data`: the lists must be in `analysis` too.
    for key in ("recommendations", "findings", "quality_score"):
        assert analysis[key] == reply[key]
    assert 0.0 <= reply["quality_score"] <= 1.0 and 0.0 <= reply["confidence"] <= 1.0
    assert reply["prediction"] and reply["recommendations"]  # never "Analysis complete"
    for item in reply["actionItems"]:
        assert set(item) == {"action", "parameter", "value", "priority"}
    assert json.loads(json.dumps(reply)) == reply
    assert set(SHAPES) >= {shape}


@pytest.mark.parametrize("body", [{}, {"foo": 1}, {"audio_data": {"samples": 3}}])
def test_unknown_shapes_are_refused_naming_the_body(kb, body) -> None:
    assert shape_of(body) is None
    with pytest.raises(ProtocolError) as caught:
        review(body, kb=kb)
    assert caught.value.code == "invalid_field" and caught.value.field == "body"
    assert "trackMetrics" in caught.value.message


def test_unity_faders_sent_as_minus_60_prove_nothing(kb: KnowledgeBase) -> None:
    reply = review(gain_body(UNITY_SESSION), kb=kb)
    said = texts(reply)
    # The panel turns "clipping" and "low level" into fix/boost buttons: never from these.
    assert "clip" not in said and "low level" not in said
    assert reply["findings"] == []
    assert reply["confidence"] <= 0.2
    assert reply["quality_score"] == 0.0
    assert "fader positions" in reply["prediction"] and "-60" in reply["prediction"]
    limits = " ".join(reply["limitations"])
    assert "unity (0 dB) as -60" in limits and "fader + 3 dB" in limits
    assert [a["action"] for a in reply["actionItems"]] == ["measure_levels"]


def test_a_fader_just_under_unity_sets_the_clip_flag_but_is_no_clipping(kb: KnowledgeBase) -> None:
    session = [daw_track("Kick", -0.5), daw_track("Lead Vox", -6)]
    body = session_body(session)
    assert body["hasClipping"] is True
    reply = review(body, kb=kb)
    assert "clip" not in texts(reply)
    assert any("between -1 and 0 dB" in lim for lim in reply["limitations"])


def test_a_fader_above_unity_is_reported_as_a_fader(kb: KnowledgeBase) -> None:
    reply = review(
        gain_body([daw_track("Lead", 6), daw_track("Pad", -42), daw_track("Gtr", -8)]), kb=kb
    )
    boosted = next(f for f in reply["findings"] if "above unity" in f)
    assert "+6.0 dB" in boosted and "fader position, not a measured peak" in boosted
    assert any("-42.0 dB" in f and "trim" in f for f in reply["findings"])
    assert any("clip gain" in r for r in reply["recommendations"])  # quoted from the KB
    actions = {(a["action"], a["parameter"], a["priority"]) for a in reply["actionItems"]}
    assert ("lower_fader", "id-Lead", "high") in actions
    assert ("trim_input_gain", "id-Pad", "medium") in actions
    # Three faders with known positions, one in range: 1 of 3 checks passed.
    assert reply["quality_score"] == 0.33


def test_peaks_that_are_not_level_plus_three_are_still_not_used(kb: KnowledgeBase) -> None:
    body = {"tracks": [{"id": "a", "level": -10, "peak": -2.5}]}
    reply = review(body, kb=kb)
    assert any("not measured" in lim for lim in reply["limitations"])
    assert "-2.5" not in texts(reply)


def test_confidence_grows_with_what_the_input_can_show(kb: KnowledgeBase) -> None:
    unity = review(gain_body(UNITY_SESSION), kb=kb)["confidence"]
    set_faders = review(gain_body([daw_track("A", -6), daw_track("B", -12)]), kb=kb)["confidence"]
    assert set_faders > unity + 0.2
    unknown = review(chain_body(daw_track("Audio 1", 0, inserts=2)), kb=kb)["confidence"]
    named = review(
        {
            "trackType": "vocal",
            "metrics": {"level": -4, "peak": -1, "plugins": ["Pro-Q 3", "CLA-76"]},
        },
        kb=kb,
    )["confidence"]
    assert named > unknown + 0.3


def test_vocal_chain_from_the_knowledge_base_and_a_missing_de_esser(kb: KnowledgeBase) -> None:
    body = {
        "trackType": "vocal",
        "metrics": {"level": -4, "peak": -1, "plugins": ["Pro-Q 3", "CLA-76"]},
    }
    reply = review(body, kb=kb)
    assert any(f.startswith("No de-esser") for f in reply["findings"])
    order = reply["recommendations"][0]
    assert order.index("EQ") < order.index("Compressor") < order.index("De-esser")
    de_ess = next(r for r in reply["recommendations"] if r.startswith("De-esser: "))
    entry = kb.get("vocal-de-essing")
    assert de_ess.removeprefix("De-esser: ") in (*entry.guidance, *entry.steps)
    checks = {c["check"]: c["passed"] for c in reply["analysis"]["checks"]}
    assert checks["de-esser on the selected vocal track"] is False
    fixed = review(
        {
            "trackType": "vocal",
            "metrics": {"level": -4, "peak": -1, "plugins": ["Pro-Q 3", "CLA-76", "Pro-DS"]},
        },
        kb=kb,
    )
    assert not any("de-esser" in f.lower() for f in fixed["findings"])
    assert fixed["quality_score"] > reply["quality_score"]


def test_reverb_inserted_before_the_compressor_is_pointed_out(kb: KnowledgeBase) -> None:
    body = {
        "trackType": "vocal",
        "metrics": {
            "level": -4,
            "peak": -1,
            "plugins": ["Pro-Q 3", "ValhallaRoom", "CLA-76", "DeEsser"],
        },
    }
    reply = review(body, kb=kb)
    assert any("comes before EQ or compression" in f for f in reply["findings"])
    assert any("send" in r.lower() for r in reply["recommendations"])


def test_unnamed_plugins_are_not_judged(kb: KnowledgeBase) -> None:
    reply = review(chain_body(daw_track("Lead Vox", -3, "audio", inserts=3)), kb=kb)
    assert not reply["findings"]
    assert any("'Unknown'" in lim for lim in reply["limitations"])
    assert any("does not say what" in lim for lim in reply["limitations"])  # type 'audio'


def test_routing_without_aux_and_by_track_count(kb: KnowledgeBase) -> None:
    small = review(routing_body(UNITY_SESSION), kb=kb)
    assert any("No aux track" in f for f in small["findings"])
    assert any("aux" in r.lower() and "reverb" in r.lower() for r in small["recommendations"])
    assert small["actionItems"][0]["action"] == "create_aux_track"
    assert small["quality_score"] == 0.0
    with_aux = review(routing_body([*UNITY_SESSION, daw_track("Verb", 0, "aux")]), kb=kb)
    assert with_aux["quality_score"] == 1.0 and not any("No aux" in f for f in with_aux["findings"])
    assert any("100% wet" in r for r in with_aux["recommendations"])
    big = review({"trackCount": 30, "trackTypes": ["audio"] * 30, "hasAux": False}, kb=kb)
    said = texts(big)
    assert "subgroup" in said and "vca" in said
    assert big["quality_score"] == 0.0 and len(big["analysis"]["checks"]) == 3


def test_full_session_names_sources_and_what_it_cannot_judge(kb: KnowledgeBase) -> None:
    session = [
        daw_track("Kick", -2),
        daw_track("808", 0, "instrument"),
        daw_track("Lead Vox", 4, inserts=2),
        daw_track("Audio 1", -0.5),
    ]
    reply = review(session_body(session), kb=kb)
    recs = " ".join(reply["recommendations"])
    assert "Insert chain for 'Kick' (kick drum)" in recs and "'Lead Vox' (lead vocal)" in recs
    limits = " ".join(reply["limitations"])
    assert "'Audio 1'" in limits and "masterLevel is the highest track fader" in limits
    assert "'Unknown'" in limits and "0 s" in limits
    assert any("'Lead Vox' (+4.0 dB)" in f for f in reply["findings"])
    summary = reply["analysis"]["summary"]
    assert summary["identified_sources"] == 3 and summary["known_faders"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tracks": "all"}, "tracks"),
        ({"tracks": [{"id": "a", "level": -3}, {"id": "b", "level": "loud"}]}, "tracks[1].level"),
        ({"tracks": [{"id": True, "level": -3}]}, "tracks[0].id"),
        ({"trackType": "vocal"}, "metrics"),
        ({"trackType": "", "metrics": {"level": 0}}, "trackType"),
        ({"trackType": "vocal", "metrics": {"level": 0, "plugins": [1]}}, "metrics.plugins"),
        ({"trackTypes": "audio", "hasAux": False}, "trackTypes"),
        ({"trackTypes": ["audio"], "hasAux": "no"}, "hasAux"),
        ({"trackTypes": ["audio"], "hasAux": False, "trackCount": -2}, "trackCount"),
        ({"trackMetrics": [{"name": "Kick"}]}, "trackMetrics[0].level"),
        ({"trackMetrics": [{"level": 0, "plugins": "EQ"}]}, "trackMetrics[0].plugins"),
        ({"masterLevel": None}, "masterLevel"),
    ],
)
def test_wrong_fields_are_named(kb: KnowledgeBase, body: dict, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        review(body, kb=kb)
    assert caught.value.code == "invalid_field" and caught.value.field == field


def test_a_non_object_body_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(ProtocolError) as caught:
        review([1, 2], kb=kb)  # type: ignore[arg-type]
    assert caught.value.field == "body"
