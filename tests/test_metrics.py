"""Gate metrics: exact counts, rates, decision times and tuning flags on a constructed data set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.metrics import compute_stats

FEB_1 = 1_769_904_000.0  # 2026-02-01T00:00:00Z


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on SQLite or Postgres."""
    with open_store(store_url) as opened:
        yield opened


class Builder:
    """Writes decided inbox rows (plain SQL) and their decision events (through the audit log)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.k = 0
        self.events: list[dict[str, Any]] = []

    def decide(
        self,
        node: str,
        action: str,
        event: str,
        actor: str,
        seconds: float,
        *,
        start: float = FEB_1,
        status: str = "resumed",
    ) -> None:
        self.k += 1
        rid, created = f"req-{self.k}", start + 1000 * self.k
        self.store.backend.execute(
            "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, node, action_id, action_name, args_hash, "
            "risk, status, decided_by, decision, payload, created_at, decided_at, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'high', ?, ?, '{}', '{}', ?, ?, ?)",
            (
                rid,
                f"t-{self.k}",
                f"i-{self.k}",
                node,
                f"a-{self.k}",
                action,
                "0" * 64,
                status,
                actor,
                created,
                created + seconds,
                self.k,
            ),
        )
        self.event(event, actor, action, created + seconds, request_id=rid)

    def event(self, event: str, actor: str, action: str, at: float, *, request_id: str | None = None) -> None:
        from langgraph_hitl._canonical import iso

        self.events.append(
            {
                "event_id": f"ev-{len(self.events)}",
                "event": event,
                "actor": actor,
                "action": action,
                "request_id": request_id,
                "ts": iso(at),
            }
        )

    def flush(self) -> None:
        self.store.audit.append(self.events)  # type: ignore[arg-type]


@pytest.fixture
def data(store: Store) -> Store:
    """Four gates with known outcomes, three auto-approvals, and an old gate from 2025."""
    b = Builder(store)
    for _ in range(21):  # always approved unmodified -> relax
        b.decide("review_mail", "send_email", "approved", "alice", 2.0)
    for d in range(1, 11):  # edited 7 of 20 -> upstream
        b.decide("review_db", "delete_record", "approved", "alice", float(d))
    for d in range(11, 18):
        b.decide("review_db", "delete_record", "edited", "bob", float(d))
    for d in (18, 19):
        b.decide("review_db", "delete_record", "rejected", "bob", float(d))
    b.decide("review_db", "delete_record", "timed_out", "system:timeout", 3600.0, status="expired")
    for event in ["approved"] * 5 + ["responded", "revision_requested"]:  # too few to flag
        b.decide("review_pay", "pay", event, "carol", 60.0)
    for event in ["approved"] * 19 + ["edited"]:  # exactly 95%: not *more* than 95%
        b.decide("review_post", "post", event, "dave", 30.0)
    for i in range(3):
        b.event("auto_approved", "auto", "search", FEB_1 + i)
    for _ in range(5):
        b.decide("review_old", "old_action", "rejected", "eve", 5.0, start=FEB_1 - 400 * 86400)
    b.flush()
    return store


def test_stats_per_gate(data: Store) -> None:
    """Counts, rates, median and p90 time to decision per review node; timeouts not timed."""
    gates = compute_stats(data.backend, since="2026-01-01")["gates"]
    assert sorted(gates) == ["review_db", "review_mail", "review_pay", "review_post"]
    assert gates["review_db"] == {
        "decisions": 20,
        "approved": 10,
        "edited": 7,
        "rejected": 2,
        "timed_out": 1,
        "responded": 0,
        "revision_requested": 0,
        "auto_approved": 0,
        "cancelled": 0,
        "approval_rate": 0.5,
        "edit_rate": 0.35,
        "rejection_rate": 0.1,
        "timeout_rate": 0.05,
        "timed": 19,
        "median_decision_s": 10.0,
        "p90_decision_s": 18.0,
        "flags": ["upstream"],
    }
    mail = gates["review_mail"]
    assert (mail["decisions"], mail["approval_rate"], mail["median_decision_s"], mail["flags"]) == (
        21,
        1.0,
        2.0,
        ["relax"],
    )
    pay = gates["review_pay"]
    assert (pay["decisions"], pay["responded"], pay["revision_requested"], pay["flags"]) == (7, 1, 1, [])
    assert pay["approval_rate"] == pytest.approx(5 / 7)
    post = gates["review_post"]
    assert (post["approval_rate"], post["edit_rate"], post["flags"]) == (0.95, 0.05, [])


def test_stats_per_action_counts_auto_approvals_outside_the_rates(data: Store) -> None:
    """Actions mirror their gates; policy auto-approvals are counted but are not reviews."""
    actions = compute_stats(data.backend, since="2026-01-01")["actions"]
    assert sorted(actions) == ["delete_record", "pay", "post", "search", "send_email"]
    search = actions["search"]
    assert (
        search["decisions"],
        search["auto_approved"],
        search["approval_rate"],
        search["timed"],
        search["median_decision_s"],
        search["flags"],
    ) == (0, 3, None, 0, None, [])
    assert actions["delete_record"]["flags"] == ["upstream"]
    assert actions["send_email"]["flags"] == ["relax"]


def test_stats_per_approver_excludes_system_actors(data: Store) -> None:
    """Approvers are the people who decided, with their own rates and times."""
    approvers = compute_stats(data.backend, since="2026-01-01")["approvers"]
    assert sorted(approvers) == ["alice", "bob", "carol", "dave"]
    alice = approvers["alice"]
    # 21 x 2s and 1..10s: sorted, the 16th of 31 is 2s and the 28th (nearest rank of p90) is 7s.
    assert (
        alice["approved"],
        alice["decisions"],
        alice["timed"],
        alice["median_decision_s"],
        alice["p90_decision_s"],
        alice["flags"],
    ) == (31, 31, 31, 2.0, 7.0, [])
    bob = approvers["bob"]
    assert (
        bob["edited"],
        bob["rejected"],
        bob["decisions"],
        bob["median_decision_s"],
        bob["p90_decision_s"],
    ) == (7, 2, 9, 15.0, 19.0)
    assert bob["edit_rate"] == pytest.approx(7 / 9)


def test_stats_totals(data: Store) -> None:
    """Totals add every decision; timings cover the 67 human decisions."""
    stats = compute_stats(data.backend, since="2026-01-01")
    totals = stats["totals"]
    assert {
        k: totals[k]
        for k in (
            "decisions",
            "approved",
            "edited",
            "rejected",
            "timed_out",
            "responded",
            "revision_requested",
            "auto_approved",
            "timed",
        )
    } == {
        "decisions": 68,
        "approved": 55,
        "edited": 8,
        "rejected": 2,
        "timed_out": 1,
        "responded": 1,
        "revision_requested": 1,
        "auto_approved": 3,
        "timed": 67,
    }
    assert totals["approval_rate"] == pytest.approx(55 / 68)
    # 1, 22 x 2, 3..19, 20 x 30, 7 x 60: the 34th of 67 is 13s, the 61st is 60s.
    assert (totals["median_decision_s"], totals["p90_decision_s"], totals["flags"]) == (13.0, 60.0, [])
    assert stats["since"] == "2026-01-01T00:00:00.000000+00:00"
    assert stats["thresholds"] == {"min_samples": 20, "relax_above": 0.95, "upstream_above": 0.3}


def test_stats_flags_explain_themselves(data: Store) -> None:
    """Flags list gates then actions by name, each with the rate, the sample and what to do."""
    flags = compute_stats(data.backend, since="2026-01-01")["flags"]
    assert [(f["scope"], f["name"], f["flag"], f["rate"], f["decisions"]) for f in flags] == [
        ("gate", "review_db", "upstream", 0.35, 20),
        ("gate", "review_mail", "relax", 1.0, 21),
        ("action", "delete_record", "upstream", 0.35, 20),
        ("action", "send_email", "relax", 1.0, 21),
    ]
    assert flags[1]["message"] == (
        "gate 'review_mail': approved unmodified in 100% of 21 reviews; it may be too conservative: "
        "consider a soft gate, auto-approval, or a narrower rule."
    )
    assert "improve the upstream agent's proposals" in flags[0]["message"]


def test_stats_thresholds_are_configurable(data: Store) -> None:
    """min_samples and the rate thresholds change which gates are flagged."""
    stricter = compute_stats(data.backend, since="2026-01-01", min_samples=21)
    assert [(f["name"], f["flag"]) for f in stricter["flags"] if f["scope"] == "gate"] == [
        ("review_mail", "relax")
    ]
    looser = compute_stats(data.backend, since="2026-01-01", relax_above=0.9)
    assert looser["gates"]["review_post"]["flags"] == ["relax"]


def test_stats_since_windows_the_data(data: Store) -> None:
    """Without since, the 2025 gate is included; a datetime or epoch since works like ISO text."""
    everything = compute_stats(data.backend)
    assert everything["since"] is None
    assert everything["gates"]["review_old"]["rejected"] == 5
    assert everything["approvers"]["eve"]["rejection_rate"] == 1.0
    assert everything["totals"]["decisions"] == 73
    assert "review_old" not in compute_stats(data.backend, since=FEB_1)["gates"]


def test_stats_are_plain_json(data: Store) -> None:
    """The result survives a JSON round trip unchanged."""
    stats = compute_stats(data.backend)
    assert json.loads(json.dumps(stats)) == stats


def test_stats_on_an_empty_store(store: Store) -> None:
    """No data gives zero counts and None rates, not errors."""
    stats = compute_stats(store.backend)
    assert (
        stats["totals"]["decisions"],
        stats["totals"]["approval_rate"],
        stats["gates"],
        stats["flags"],
    ) == (0, None, {}, [])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_samples": 0}, "min_samples must be at least 1, got 0"),
        ({"relax_above": 1.5}, "relax_above is a rate from 0 to 1, got 1.5"),
        ({"upstream_above": -1}, "upstream_above is a rate from 0 to 1"),
        ({"since": "last month"}, "since is 'last month', not an ISO 8601 time"),
    ],
)
def test_stats_rejects_bad_arguments(store: Store, kwargs: dict[str, Any], match: str) -> None:
    """Bad thresholds or times raise ValueError naming the value."""
    with pytest.raises(ValueError, match=match):
        compute_stats(store.backend, **kwargs)


def test_stats_count_reviews_ended_without_a_decision_outside_the_rates(store: Store) -> None:
    """A review ended without a decision (Agent Inbox's "Mark as Resolved") is counted as
    `cancelled` for its gate and action, and is neither a decision nor a rate's sample."""
    b = Builder(store)
    b.decide("review_db", "delete_record", "approved", "alice", 4.0)
    b.decide("review_db", "delete_record", "cancelled", "bob", 9.0, status="cancelled")
    b.flush()
    store.backend.execute("UPDATE hitl_requests SET decided_by = NULL WHERE status = 'cancelled'")
    stats = compute_stats(store.backend)
    gate = stats["gates"]["review_db"]
    assert (gate["decisions"], gate["approved"], gate["cancelled"], gate["approval_rate"]) == (1, 1, 1, 1.0)
    assert stats["actions"]["delete_record"]["cancelled"] == 1 and stats["totals"]["cancelled"] == 1
    assert "bob" not in stats["approvers"] and stats["totals"]["timed"] == 1
