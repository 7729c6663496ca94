"""One pinned example per perspective: each works the same facts its own way.

Every answer opens with the asked-for fact; what a perspective changes is what follows —
arithmetic with the question's own numbers, cause and effect of the moves asked about,
options that fit the question, numbered DAW steps, and so on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codette_desktop.engine import ChatAnswer, ChatQuery, CodetteEngine, KnowledgeBase, MemoryStore
from codette_desktop.engine.knowledge import KnowledgeEntry

FIXTURE_KB = Path(__file__).parent / "fixtures_engine" / "knowledge"
PREDELAY = "How much pre-delay at 90 BPM?"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_KB)


@pytest.fixture
def engine(kb: KnowledgeBase, tmp_path: Path):
    memory = MemoryStore(tmp_path / "memory.db")
    yield CodetteEngine(kb, memory, seed=9)
    memory.close()


def ask(engine: CodetteEngine, question: str, perspective: str, **kwargs: object) -> ChatAnswer:
    return engine.answer(
        ChatQuery(question, session_id=perspective, perspective=perspective, **kwargs)  # type: ignore[arg-type]
    )


def entry(kb: KnowledgeBase, entry_id: str) -> KnowledgeEntry:
    found = kb.get(entry_id)
    assert found is not None
    return found


def body(answer: ChatAnswer) -> str:
    """What follows the opening paragraph."""
    return answer.response.split("\n\n", 1)[1]


def test_mathematical_rigor_works_the_questions_numbers(engine: CodetteEngine) -> None:
    answer = ask(engine, PREDELAY, "mathematical_rigor")
    assert "1/64 = 60000 / 90 / 16 = 41.7 ms" in answer.response
    assert "1/32 = 60000 / 90 / 8 = 83.3 ms" in answer.response
    # The entry's worked example at its own tempo (120 BPM) is left out.
    assert "60000 / 120" not in answer.response
    # In a new session with no tempo given, the entry's own example stays.
    plain = engine.answer(
        ChatQuery("How much pre-delay should I use?", "new", perspective="mathematical_rigor")
    )
    assert "60000 / 120 = 500 ms" in plain.response


def test_newtonian_logic_gives_cause_and_effect_for_the_question(engine: CodetteEngine) -> None:
    answer = ask(engine, "my vocal sounds muddy", "newtonian_logic")
    text = body(answer)
    assert "the usual cause is low-mid build-up" in text
    assert re.search(r"- Cause: Cut 2-4 dB[^\n]*→ effect: that band drops", text)
    assert "- The mechanism: " in text


def test_quantum_logic_offers_options_that_fit_the_question(
    engine: CodetteEngine, kb: KnowledgeBase
) -> None:
    answer = ask(engine, "How do I get a clean low end with kick and bass?", "quantum_logic")
    text = body(answer)
    assert "Option A is the answer above." in text
    option_b = re.search(r"^Option B: (.+)$", text, re.MULTILINE)
    assert option_b is not None
    low_end = entry(kb, "kick-bass-low-end")
    # Option B is another move from the entry the question is about, not a generic line.
    assert option_b.group(1) in low_end.guidance
    assert option_b.group(1) not in answer.response.split("\n")[0]


def test_copilot_developer_numbers_the_daw_steps(engine: CodetteEngine, kb: KnowledgeBase) -> None:
    context = {"selected_track": {"name": "Lead Vox", "type": "vocal", "peak_level": -0.5}}
    answer = ask(engine, "How do I compress vocals?", "copilot_developer", daw_context=context)
    steps = re.findall(r"^(\d+)\. (.+)$", answer.response, re.MULTILINE)
    compression = entry(kb, "vocal-compression")
    assert [int(n) for n, _ in steps] == list(range(1, len(compression.steps) + 3))
    assert steps[0][1].startswith("Lower the clip gain of your 'Lead Vox' (vocal) track by 5.5 dB")
    assert [text for _, text in steps[1:-1]] == list(compression.steps)


def test_mix_engineering_gives_the_setting_then_the_next_moves(
    engine: CodetteEngine, kb: KnowledgeBase
) -> None:
    answer = ask(engine, "What attack should I use on a vocal compressor?", "mix_engineering")
    compression = entry(kb, "vocal-compression")
    assert "10-30 ms" in answer.response.split("\n")[0]
    assert re.search(
        r"^(Then|Next|From there|After that|Alongside it): ", body(answer), re.MULTILINE
    )
    assert sum(1 for g in compression.guidance if g in answer.response) >= 1


def test_davinci_synthesis_draws_the_analogy(engine: CodetteEngine, kb: KnowledgeBase) -> None:
    answer = ask(engine, PREDELAY, "davinci_synthesis")
    assert "architecture" in body(answer)
    assert "The science: " in body(answer)
    assert "41.7 ms" in answer.response


def test_human_intuition_starts_from_listening(engine: CodetteEngine) -> None:
    answer = ask(engine, PREDELAY, "human_intuition")
    assert "does it feel like it lives in the same room as everything else?" in body(answer)


def test_neural_network_weighs_the_factors(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I compress vocals?", "neural_network")
    weights = [float(w) for w in re.findall(r"\(weight (0\.\d\d)\)", answer.response)]
    assert len(weights) >= 2 and weights == sorted(weights, reverse=True)
    assert sum(weights) == pytest.approx(1.0, abs=0.02)
    assert "'Compressing vocals'" in answer.response


def test_resilient_kindness_encourages_one_step_at_a_time(engine: CodetteEngine) -> None:
    answer = ask(engine, "How do I compress vocals?", "resilient_kindness")
    assert "When that feels right, take the next step: " in body(answer)
    assert re.search(r"you've got this|good company|everyone does|patient", body(answer))


def test_philosophical_starts_from_the_intent(engine: CodetteEngine, kb: KnowledgeBase) -> None:
    answer = ask(engine, PREDELAY, "philosophical")
    reverb = entry(kb, "reverb-predelay-tempo")
    assert (
        f"The intent behind reverb pre-delay and decay to tempo: {reverb.summary}"
        in answer.response
    )
    assert "Why it works: " in body(answer)


def test_bias_mitigation_names_the_traps(engine: CodetteEngine, kb: KnowledgeBase) -> None:
    answer = ask(engine, "How do I compress vocals?", "bias_mitigation")
    compression = entry(kb, "vocal-compression")
    assert any(p.rstrip(".") in answer.response for p in compression.pitfalls)
    assert "level-matched A/B" in answer.response


def test_psychological_explains_the_perception(engine: CodetteEngine, kb: KnowledgeBase) -> None:
    answer = ask(engine, PREDELAY, "psychological")
    reverb = entry(kb, "reverb-predelay-tempo")
    assert f"Perceptually: {reverb.perception}" in answer.response
    assert "41.7 ms" in answer.response
