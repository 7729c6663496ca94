"""The twelve perspectives: names, validation, and a visibly different answer from each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codette_desktop.engine import (
    DEFAULT_PERSPECTIVE,
    PERSPECTIVES,
    ChatAnswer,
    ChatQuery,
    CodetteEngine,
    KnowledgeBase,
    MemoryStore,
    validate_perspective,
)
from codette_desktop.errors import ProtocolError

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"
QUESTION = "How should I compress my vocals?"
NAMES = [
    "mix_engineering",
    "newtonian_logic",
    "davinci_synthesis",
    "human_intuition",
    "neural_network",
    "quantum_logic",
    "resilient_kindness",
    "mathematical_rigor",
    "philosophical",
    "copilot_developer",
    "bias_mitigation",
    "psychological",
]
NUMBERED = re.compile(r"^\d+\. ", re.MULTILINE)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


@pytest.fixture(scope="module")
def answers(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ChatAnswer]:
    memory = MemoryStore(tmp_path_factory.mktemp("persp") / "memory.db")
    engine = CodetteEngine(kb, memory, seed=3)
    result = {
        name: engine.answer(ChatQuery(QUESTION, session_id=f"s-{name}", perspective=name))
        for name in PERSPECTIVES
    }
    memory.close()
    return result


def test_exactly_the_twelve_names_in_order() -> None:
    assert list(PERSPECTIVES) == NAMES
    assert DEFAULT_PERSPECTIVE == "mix_engineering"
    assert all(isinstance(d, str) and d for d in PERSPECTIVES.values())


def test_perspectives_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        PERSPECTIVES["new"] = "x"  # type: ignore[index]


def test_validate_accepts_names_and_forgives_case() -> None:
    for name in NAMES:
        assert validate_perspective(name) == name
    assert validate_perspective("Mix Engineering") == "mix_engineering"
    assert validate_perspective("copilot-developer") == "copilot_developer"
    assert validate_perspective(None) == DEFAULT_PERSPECTIVE


@pytest.mark.parametrize("bad", ["newton", "", 3, ["mix_engineering"]])
def test_validate_rejects_unknown_with_the_valid_list(bad: object) -> None:
    with pytest.raises(ProtocolError) as info:
        validate_perspective(bad)
    error = info.value
    assert error.code == "invalid_field"
    assert error.field == "perspective"
    assert error.message.startswith("Unknown perspective '")
    assert error.message.endswith("Valid perspectives: " + ", ".join(NAMES))


def test_engine_lists_perspectives_in_order(kb: KnowledgeBase, tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as memory:
        listed = CodetteEngine(kb, memory).perspectives()
    assert [p["name"] for p in listed] == NAMES
    assert all(set(p) == {"name", "description"} for p in listed)


def test_every_perspective_answers_differently(answers: dict[str, ChatAnswer]) -> None:
    assert len({a.response for a in answers.values()}) == 12
    for name, answer in answers.items():
        assert answer.perspective == name
        assert answer.sources[0]["id"] == "vocal-compression"


def test_copilot_gives_numbered_steps(kb: KnowledgeBase, answers: dict[str, ChatAnswer]) -> None:
    text = answers["copilot_developer"].response
    numbers = [int(m.group(0).split(".")[0]) for m in NUMBERED.finditer(text)]
    entry = kb.get("vocal-compression")
    assert entry is not None
    assert numbers == list(range(1, len(entry.steps) + 2))  # the entry's steps + a check
    for step in entry.steps:
        assert step in text
    for name, answer in answers.items():
        if name != "copilot_developer":
            assert not NUMBERED.search(answer.response), name


def test_mathematical_rigor_works_the_numbers(
    kb: KnowledgeBase, answers: dict[str, ChatAnswer]
) -> None:
    entry = kb.get("vocal-compression")
    assert entry is not None
    text = answers["mathematical_rigor"].response
    assert entry.math in text
    assert "20 × log10 2 = 6.02" in text  # reference arithmetic when no levels are known
    assert entry.math not in answers["mix_engineering"].response


def test_psychological_explains_perception(
    kb: KnowledgeBase, answers: dict[str, ChatAnswer]
) -> None:
    entry = kb.get("vocal-compression")
    assert entry is not None
    assert f"Perceptually: {entry.perception}" in answers["psychological"].response


def test_bias_mitigation_names_pitfalls_and_level_matched_ab(
    kb: KnowledgeBase, answers: dict[str, ChatAnswer]
) -> None:
    entry = kb.get("vocal-compression")
    assert entry is not None
    text = answers["bias_mitigation"].response
    assert "Common mistake or myth:" in text
    assert sum(1 for p in entry.pitfalls if p.rstrip(".") in text) >= 2
    assert "level-matched A/B" in text
    assert "level-matched A/B" not in answers["psychological"].response


@pytest.mark.parametrize(
    ("name", "markers"),
    [
        ("newtonian_logic", ["The mechanism: ", "- Cause: ", "→ effect: "]),
        ("davinci_synthesis", ["sculptor", "The science: ", "The craft: "]),
        ("human_intuition", ["If that feeling points to compressing vocals"]),
        ("quantum_logic", ["Option A is the answer above.", "Option B: "]),
        ("resilient_kindness", ["When that feels right, take the next step: "]),
        ("philosophical", ["The intent behind compressing vocals", "Why it works: "]),
        ("neural_network", ["Weighted factors beyond the answer above", "(weight 0."]),
    ],
)
def test_perspective_markers(answers: dict[str, ChatAnswer], name: str, markers: list[str]) -> None:
    text = answers[name].response
    for marker in markers:
        assert marker in text, (name, marker)
    for other, answer in answers.items():
        if other != name:
            assert markers[-1] not in answer.response, (name, other)


def test_neural_network_weights_sum_to_one(answers: dict[str, ChatAnswer]) -> None:
    weights = [
        float(w) for w in re.findall(r"\(weight (0\.\d\d)\)", answers["neural_network"].response)
    ]
    assert len(weights) >= 2
    assert weights == sorted(weights, reverse=True)
    assert sum(weights) == pytest.approx(1.0, abs=0.02)


def test_mix_engineering_is_direct_guidance(
    kb: KnowledgeBase, answers: dict[str, ChatAnswer]
) -> None:
    entry = kb.get("vocal-compression")
    assert entry is not None
    text = answers["mix_engineering"].response.lower()
    # The opening continues the question's words, so a line there starts in lower case.
    assert entry.summary.lower() in text
    assert sum(1 for g in entry.guidance if g.lower() in text) >= 2
