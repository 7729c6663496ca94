"""quantum_state numbers for GET /codette/status: five documented measures in 0..1."""

from __future__ import annotations

import pytest

from codette_desktop.engine.studio.quantum_state import QUANTUM_KEYS, SessionStats, quantum_state


def test_exactly_five_keys_all_zero_before_any_use() -> None:
    state = quantum_state(SessionStats())
    assert (
        tuple(state)
        == QUANTUM_KEYS
        == ("coherence", "entanglement", "resonance", "phase", "fluctuation")
    )
    assert set(state.values()) == {0.0}


def test_known_values() -> None:
    stats = SessionStats(
        recent_confidences=(0.5, 0.7, 0.9),
        recent_chats=4,
        contextual_chats=3,
        cited_entries=10,
        knowledge_entries=94,
        workers_ready=1,
        workers_total=2,
    )
    assert quantum_state(stats) == {
        "coherence": 0.7,  # mean confidence
        "entanglement": 0.75,  # 3 of 4 chats carried DAW context
        "resonance": 0.106,  # 10 of 94 entries cited
        "phase": 0.5,  # fast worker ready, full worker warming up
        "fluctuation": 0.327,  # 2 × population stdev of (0.5, 0.7, 0.9) = 2 × 0.1633
    }


def test_fluctuation_spans_zero_to_one() -> None:
    assert quantum_state(SessionStats(recent_confidences=(0.6, 0.6, 0.6)))["fluctuation"] == 0.0
    assert quantum_state(SessionStats(recent_confidences=(0.0, 1.0)))["fluctuation"] == 1.0
    assert quantum_state(SessionStats(recent_confidences=(0.8,)))["fluctuation"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"recent_confidences": (1.5,)},
        {"recent_confidences": (float("nan"),)},
        {"recent_chats": 1, "contextual_chats": 2},
        {"cited_entries": 5, "knowledge_entries": 4},
        {"workers_ready": 3, "workers_total": 2},
        {"recent_chats": -1},
    ],
)
def test_impossible_stats_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SessionStats(**kwargs)
