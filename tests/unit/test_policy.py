"""Connection policy without sockets: sizes, rate, requests in progress, bytes waiting,
penalties for peers closed for abuse."""

from __future__ import annotations

from codette_desktop.protocol.policy import (
    MIB,
    Admission,
    ConnectionPolicy,
    FrameClass,
    Limits,
    OutboundBudget,
    PeerPenalties,
    peer_key,
)


def test_size_classes() -> None:
    policy = ConnectionPolicy(Limits(), now=0)
    assert policy.classify(1 * MIB) is FrameClass.NORMAL
    assert policy.classify(1 * MIB + 1) is FrameClass.LARGE
    assert policy.classify(128 * MIB) is FrameClass.LARGE
    assert policy.classify(128 * MIB + 1) is FrameClass.TOO_LARGE


def test_token_bucket_allows_a_burst_of_twice_the_rate_then_the_rate() -> None:
    policy = ConnectionPolicy(Limits(rate_per_s=10), now=0)
    assert [policy.admit(0.0) for _ in range(20)] == [Admission.ACCEPT] * 20
    assert policy.admit(0.0) is Admission.REFUSE
    # 0.5 s later five tokens have come back.
    assert [policy.admit(0.5) for _ in range(5)] == [Admission.ACCEPT] * 5
    assert policy.admit(0.5) is Admission.REFUSE


def test_a_client_that_keeps_flooding_is_closed_after_the_abuse_limit() -> None:
    policy = ConnectionPolicy(Limits(rate_per_s=1, abuse_limit=5, abuse_window_s=10), now=0)
    results = [policy.admit(0.0) for _ in range(2 + 6)]
    assert results[:2] == [Admission.ACCEPT] * 2
    assert results[2:7] == [Admission.REFUSE] * 5
    assert results[7] is Admission.CLOSE


def test_refusals_spread_beyond_the_window_never_close() -> None:
    policy = ConnectionPolicy(Limits(rate_per_s=0.001, abuse_limit=3, abuse_window_s=1),
                              now=0)
    policy.tokens = 0
    outcomes = [policy.admit(t * 0.6) for t in range(20)]
    assert Admission.CLOSE not in outcomes


def test_requests_in_progress_are_capped() -> None:
    policy = ConnectionPolicy(Limits(max_in_flight=2), now=0)
    assert policy.start_request() and policy.start_request()
    assert not policy.start_request()
    policy.finish_request()
    assert policy.start_request()


def test_outbound_budget_per_client_and_in_total() -> None:
    budget = OutboundBudget(Limits(max_unsent_bytes=100, max_unsent_bytes_total=250))
    # Nothing waiting: even a reply over the per-client cap may go (replies are paged).
    assert budget.reserve(0, 150)
    assert not budget.reserve(150, 10)  # behind a blocked client: over its cap
    assert budget.reserve(0, 90)
    assert not budget.reserve(0, 20)  # 150 + 90 + 20 > 250 in total
    budget.release(150)
    assert budget.reserve(0, 20)
    assert budget.total == 110


def test_penalties_refuse_a_peer_for_a_cooldown_that_doubles_on_repeat() -> None:
    penalties = PeerPenalties(first_cooldown_s=5, max_cooldown_s=30)
    peer = peer_key("127.0.0.1", "http://localhost:5173")
    assert penalties.refused_for(peer, 0) == 0
    assert penalties.penalise(peer, 0) == 5
    assert penalties.refused_for(peer, 1) == 4
    assert penalties.refused_for(peer_key("127.0.0.1", None), 1) == 0  # another origin
    assert penalties.refused_for(peer, 5) == 0
    assert penalties.penalise(peer, 6) == 10  # again soon after: doubled
    assert penalties.penalise(peer, 17) == 20
    assert penalties.penalise(peer, 38) == 30  # capped
    assert penalties.penalise(peer, 1000) == 5  # long after: forgiven


def test_penalties_are_bounded() -> None:
    penalties = PeerPenalties(max_peers=10)
    for n in range(100):
        penalties.penalise(f"peer{n}", 0)
    assert penalties.refused_for("peer99", 1) > 0
    assert penalties.refused_for("peer0", 1) == 0  # the oldest went first
