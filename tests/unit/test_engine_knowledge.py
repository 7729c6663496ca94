"""KnowledgeBase.load validation and search on the small fixture knowledge base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codette_desktop.engine import KnowledgeBase, KnowledgeEntry
from codette_desktop.errors import ConfigError

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"


def _valid_entry(entry_id: str = "test-entry") -> dict[str, object]:
    return {
        "id": entry_id,
        "title": "Test entry",
        "category": "eq",
        "keywords": ["eq"],
        "track_types": ["any"],
        "summary": "A summary.",
        "guidance": ["Cut 3 dB at 300 Hz."],
        "steps": ["Insert an EQ."],
        "perception": "Why it sounds like that.",
        "math": "3 dB is a factor of 0.71.",
        "pitfalls": [],
        "sources": [],
    }


def _write(directory: Path, name: str, data: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


def test_load_reads_every_file(kb: KnowledgeBase) -> None:
    assert len(kb) == 7
    entry = kb.get("vocal-eq-clarity")
    assert isinstance(entry, KnowledgeEntry)
    assert entry.track_types == ("vocal",)
    assert entry.guidance[0].startswith("High-pass at 80-100 Hz")
    assert kb.get("mastering-loudness-targets") is not None  # from the second file


def test_entries_are_frozen(kb: KnowledgeBase) -> None:
    entry = next(iter(kb))
    with pytest.raises(AttributeError):
        entry.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("summary"), "missing field(s) summary"),
        (lambda e: e.update(extra=1), "unknown field(s) extra"),
        (lambda e: e.update(title=""), "'title' must be a non-empty string"),
        (lambda e: e.update(keywords="eq"), "'keywords' must be a list of non-empty strings"),
        (lambda e: e.update(guidance=[]), "'guidance' must not be empty"),
        (lambda e: e.update(steps=["ok", 3]), "'steps' must be a list of non-empty strings"),
        (lambda e: e.update(id="Bad Id"), "id must be lower-case words"),
    ],
)
def test_malformed_entry_names_file_and_entry(tmp_path: Path, mutate, message: str) -> None:
    good = _valid_entry("first-entry")
    bad = _valid_entry("broken-entry")
    mutate(bad)
    _write(tmp_path, "topic.json", [good, bad])
    with pytest.raises(ConfigError) as info:
        KnowledgeBase.load(tmp_path)
    text = str(info.value)
    assert "topic.json" in text
    assert "entry 1" in text
    assert message in text


def test_entry_id_is_named_in_the_error(tmp_path: Path) -> None:
    bad = _valid_entry("named-entry")
    bad["math"] = 42
    _write(tmp_path, "a.json", [bad])
    with pytest.raises(ConfigError, match=r"a\.json, entry 0 \(id 'named-entry'\)"):
        KnowledgeBase.load(tmp_path)


def test_non_list_file_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "obj.json", {"id": "x"})
    with pytest.raises(ConfigError, match=r"obj\.json: top level must be a JSON list"):
        KnowledgeBase.load(tmp_path)


def test_non_object_entry_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", ["just a string"])
    with pytest.raises(ConfigError, match=r"a\.json, entry 0: an entry must be a JSON object"):
        KnowledgeBase.load(tmp_path)


def test_invalid_json_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.json: cannot read JSON"):
        KnowledgeBase.load(tmp_path)


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", [_valid_entry("same-id")])
    _write(tmp_path, "b.json", [_valid_entry("same-id")])
    with pytest.raises(ConfigError, match=r"b\.json, entry 0: duplicate id 'same-id'.*a\.json"):
        KnowledgeBase.load(tmp_path)


def test_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        KnowledgeBase.load(tmp_path / "nope")
    with pytest.raises(ConfigError, match="holds no entries"):
        KnowledgeBase.load(tmp_path)


def test_non_json_files_are_ignored(tmp_path: Path) -> None:
    shutil.copy(FIXTURE_KB / "mixing.json", tmp_path / "mixing.json")
    (tmp_path / "README.md").write_text("notes", encoding="utf-8")
    assert len(KnowledgeBase.load(tmp_path)) == 5


@pytest.mark.parametrize(
    ("query", "expected_top"),
    [
        ("how do I compress vocals?", "vocal-compression"),
        ("what ratio for my vox comp", "vocal-compression"),
        ("how do I EQ the vocal for clarity", "vocal-eq-clarity"),
        ("kick drum and bass are clashing", "kick-bass-low-end"),
        ("how much verb pre-delay", "reverb-predelay-tempo"),
        ("what lufs for spotify", "mastering-loudness-targets"),
        ("harsh esses", "vocal-de-essing"),
        ("my track is clipping, how much headroom", "gain-staging-basics"),
    ],
)
def test_search_ranks_the_right_entry_first(
    kb: KnowledgeBase, query: str, expected_top: str
) -> None:
    hits = kb.search(query)
    assert hits, query
    assert hits[0][0].id == expected_top
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)


def test_search_respects_limit_and_returns_only_matches(kb: KnowledgeBase) -> None:
    assert len(kb.search("vocal", limit=2)) == 2
    assert kb.search("vocal", limit=0) == []
    assert kb.search("pancakes with maple syrup") == []


def test_track_type_boost_reorders_results(kb: KnowledgeBase) -> None:
    # Mud-cutting advice exists for both vocals and kick/bass; the selected track's type
    # decides which comes first.
    query = "cut the mud"
    plain = {e.id: s for e, s in kb.search(query, limit=7)}
    for_bass = kb.search(query, track_types=["bass"], limit=7)
    for_vocal = kb.search(query, track_types=["vocal"], limit=7)
    assert for_bass[0][0].id == "kick-bass-low-end"
    assert for_vocal[0][0].id == "vocal-eq-clarity"
    boosted = {e.id: s for e, s in for_bass}
    assert boosted["kick-bass-low-end"] > plain["kick-bass-low-end"]
    assert boosted["vocal-eq-clarity"] < plain["vocal-eq-clarity"]


def test_kick_track_type_boosts_drum_family_entries(kb: KnowledgeBase) -> None:
    plain = {e.id: s for e, s in kb.search("low end mud")}
    boosted = {e.id: s for e, s in kb.search("low end mud", track_types=["kick"])}
    assert boosted["kick-bass-low-end"] > plain["kick-bass-low-end"]


def test_confidence_tracks_match_strength(kb: KnowledgeBase) -> None:
    clear = kb.search_detailed("how do I compress vocals").confidence
    vague = kb.search_detailed("how long should my verb be").confidence
    broad = kb.search_detailed("how do I make my mix better").confidence
    off_topic = kb.search_detailed("what's the capital of France").confidence
    pancakes = kb.search_detailed("recipe for pancakes").confidence
    assert clear >= 0.8
    assert 0.3 <= vague < clear
    assert off_topic < broad < vague
    assert off_topic < 0.3
    assert pancakes < 0.3


def test_generic_words_only_decide_when_alone(kb: KnowledgeBase) -> None:
    loud = kb.search_detailed("is my track too loud?")
    assert loud.terms == ("track", "loudness")
    assert loud.key_terms == ("loudness",)
    assert loud.hits[0][0].id == "mastering-loudness-targets"
    assert not loud.broad
    broad = kb.search_detailed("how do I make my mix better")
    assert broad.key_terms == ("mix",)
    assert broad.broad
    assert broad.hits  # still answered from the knowledge base


def test_entries_about_the_terms_outrank_entries_that_mention_them(kb: KnowledgeBase) -> None:
    # The de-essing entry says "compression" several times but is not about it.
    hits = kb.search("vocal compression", limit=3)
    assert hits[0][0].id == "vocal-compression"
    assert kb.focus(hits[0][0], ["compression", "vocal"]) == 1.0
    de_ess = kb.get("vocal-de-essing")
    assert de_ess is not None
    assert kb.focus(de_ess, ["compression", "vocal"]) == 0.5


def test_everyday_words_are_not_studio_words(kb: KnowledgeBase) -> None:
    result = kb.search_detailed("what time is it")
    assert result.domain_terms == frozenset()
    assert result.confidence < 0.3


def test_domain_terms_are_reported(kb: KnowledgeBase) -> None:
    result = kb.search_detailed("compress the kick like the weather")
    assert result.domain_terms == {"compression", "kick"}
    assert kb.is_domain_term("reverb")
    assert not kb.is_domain_term("weather")
