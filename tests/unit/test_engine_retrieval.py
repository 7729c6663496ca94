"""Tokenising, stemming, synonyms and BM25 ranking (no knowledge files involved)."""

from __future__ import annotations

import math

import pytest

from codette_desktop.engine.retrieval import (
    BM25Index,
    canonical,
    stem,
    tokenize,
    track_type_terms,
)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("vocals", "vocal"),
        ("panning", "pan"),
        ("clipping", "clip"),
        ("tones", "ton"),
        ("tone", "ton"),
        ("frequencies", "frequency"),
        ("bass", "bass"),
        ("analysis", "analysis"),
        ("808", "808"),
    ],
)
def test_stem_known_answers(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_stem_meets_inflections() -> None:
    assert stem("gating") == stem("gate")
    assert stem("released") == stem("release")
    assert stem("comparing") == stem("compare")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vox", ["vocal"]),
        ("Vocals", ["vocal"]),
        ("comp", ["compression"]),
        ("compressor", ["compression"]),
        ("verb", ["reverb"]),
        ("LUFS", ["loudness"]),
        ("kick drum", ["kick"]),
        ("bass drum", ["kick"]),
        ("bass guitar", ["bass"]),
        ("side-chain", ["sidechain"]),
        ("de-esser", ["deess"]),
        ("hi-hats", ["hihat"]),
        ("pre-delay", ["predelay"]),
        ("low end", ["lowend"]),
        ("EQing", ["eq"]),
        # Phrases whose words alone mean something else in the studio.
        ("too much bass", ["lowend"]),
        ("the click track", ["clicktrack"]),
        ("lo-fi hip hop", ["lofi", "hiphop"]),
        ("drum and bass", ["dnb"]),
        ("room echo", ["roomy"]),
        ("make room for the vocal", ["spac", "vocal"]),
        ("quieter compared to Spotify", ["quiet", "spotify"]),
        ("leaking into the mic", ["bleed", "mic"]),
        ("pumping", ["pump"]),
        ("while recording", ["tracking"]),
    ],
)
def test_synonyms_and_phrases(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_stopwords_are_dropped_and_order_kept() -> None:
    assert tokenize("How do I comp the vox on my kick drum?") == ["compression", "vocal", "kick"]


def test_canonical_uses_stem_before_synonym() -> None:
    # "equalizers" is not itself in the table but stems to something that canonicalises.
    assert canonical("vocalists") == "vocal"
    assert canonical("limiting") == "limiter"


def test_track_type_terms_adds_the_family() -> None:
    assert track_type_terms(["kick"]) == {"kick", "drums"}
    assert track_type_terms(["Vocal"]) == {"vocal"}
    assert track_type_terms([]) == frozenset()


def test_bm25_ranks_the_document_with_more_matching_terms_first() -> None:
    docs = [["eq", "vocal"], ["compression", "vocal", "vocal"], ["reverb"]]
    index = BM25Index(docs)
    ranked = index.score(["compression", "vocal"])
    assert [s.index for s in ranked] == [1, 0]
    assert ranked[0].score > ranked[1].score > 0


def test_bm25_known_answer() -> None:
    # One document, one term, tf=1, length = average: score = idf * (k1+1) / (1 + k1).
    index = BM25Index([["a"], ["b"]], k1=1.2, b=0.75)
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    (hit,) = index.score(["a"])
    assert hit.index == 0
    assert hit.score == pytest.approx(idf)


def test_bm25_unknown_terms_score_nothing_and_raise_the_ideal() -> None:
    index = BM25Index([["eq"], ["reverb"]])
    assert index.score(["pancake"]) == []
    assert index.ideal_score(["eq", "pancake"]) > index.ideal_score(["eq"])
    assert index.idf("pancake") > index.idf("eq")
