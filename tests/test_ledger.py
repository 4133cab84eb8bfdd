"""The execution ledger (G5): one completed run per action, retries keep their idempotency key."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from langgraph_hitl.errors import NotPendingError
from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.ledger import LedgerEntry


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The store's clock, advanced by hand."""
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    """A migrated store on SQLite or Postgres."""
    with open_store(store_url, clock=clock) as opened:
        yield opened


def test_begin_records_a_started_entry(store: Store) -> None:
    """The first begin inserts `started` with one attempt and the given key."""
    entry = store.ledger.begin("a1", idempotency_key="req-1", action="send_email", thread_id="t1")
    assert entry == LedgerEntry(
        action_id="a1",
        idempotency_key="req-1",
        status="started",
        result=None,
        error=None,
        attempts=1,
        started_at=1000.0,
        finished_at=None,
        action="send_email",
        thread_id="t1",
    )
    assert not entry.finished
    assert store.ledger.get("a1") == entry


def test_begin_again_after_crash_counts_an_attempt_and_keeps_the_key(store: Store, clock: Clock) -> None:
    """A `started` entry (crash before the record) comes back with attempts + 1 and the first key."""
    store.ledger.begin("a1", idempotency_key="req-1", action="send_email")
    clock.now = 2000.0
    retry = store.ledger.begin("a1", idempotency_key="req-2", action="send_email")
    assert (retry.status, retry.attempts, retry.idempotency_key, retry.started_at) == (
        "started",
        2,
        "req-1",
        1000.0,
    )


def test_complete_records_the_result(store: Store, clock: Clock) -> None:
    """complete() stores the JSON result and the finish time."""
    store.ledger.begin("a1", idempotency_key="k", action="send_email")
    clock.now = 1005.0
    done = store.ledger.complete("a1", {"message_id": "m-1", "sizes": [1, 2.5], "ok": True, "none": None})
    assert (done.status, done.result, done.finished_at, done.finished) == (
        "completed",
        {"message_id": "m-1", "sizes": [1, 2.5], "ok": True, "none": None},
        1005.0,
        True,
    )


def test_begin_after_completion_returns_the_recorded_result_unchanged(store: Store) -> None:
    """A completed action is never re-run: begin returns it as is, attempts untouched."""
    store.ledger.begin("a1", idempotency_key="k", action="send_email")
    done = store.ledger.complete("a1", "sent")
    assert store.ledger.begin("a1", idempotency_key="k", action="send_email") == done
    assert store.ledger.get("a1") == done


def test_fail_records_the_error_and_begin_returns_it(store: Store) -> None:
    """A failed action stays failed; begin returns the recorded error instead of running again."""
    store.ledger.begin("a1", idempotency_key="k", action="pay")
    failed = store.ledger.fail("a1", "TimeoutError: gateway")
    assert (failed.status, failed.error, failed.result) == ("failed", "TimeoutError: gateway", None)
    assert store.ledger.begin("a1", idempotency_key="k", action="pay") == failed


def test_complete_twice_keeps_the_first_result(store: Store) -> None:
    """Completing again is harmless and does not overwrite the result."""
    store.ledger.begin("a1", idempotency_key="k", action="x")
    store.ledger.complete("a1", 1)
    assert store.ledger.complete("a1", 2).result == 1


def test_outcome_cannot_flip(store: Store) -> None:
    """A failed entry cannot be completed, nor a completed one failed."""
    store.ledger.begin("a1", idempotency_key="k", action="x")
    store.ledger.fail("a1", "boom")
    with pytest.raises(
        NotPendingError, match="already recorded as failed; its outcome cannot change to completed"
    ):
        store.ledger.complete("a1", "late")
    store.ledger.begin("a2", idempotency_key="k", action="x")
    store.ledger.complete("a2", "ok")
    with pytest.raises(NotPendingError, match="already recorded as completed"):
        store.ledger.fail("a2", "late")


def test_complete_unknown_action_says_call_begin(store: Store) -> None:
    """Recording an outcome without begin() is refused with the fix."""
    with pytest.raises(NotPendingError, match=r"'ghost' has no ledger entry; call Ledger.begin\(\)"):
        store.ledger.complete("ghost", None)


def test_complete_rejects_non_json_result(store: Store) -> None:
    """A result that is not plain JSON is refused before anything is written."""
    store.ledger.begin("a1", idempotency_key="k", action="x")
    with pytest.raises(TypeError, match="result of action 'a1' holds a set"):
        store.ledger.complete("a1", {1, 2})
    assert store.ledger.get("a1").status == "started"  # type: ignore[union-attr]


def test_get_unknown_is_none(store: Store) -> None:
    """get() of an action never begun is None."""
    assert store.ledger.get("nope") is None


@pytest.mark.parametrize("field", ["action_id", "idempotency_key", "action"])
def test_begin_rejects_empty_ids(store: Store, field: str) -> None:
    """Empty identifiers are refused, naming the argument."""
    args = {"action_id": "a1", "idempotency_key": "k", "action": "x"} | {field: ""}
    with pytest.raises(ValueError, match=f"non-empty string {field}, got ''"):
        store.ledger.begin(args["action_id"], idempotency_key=args["idempotency_key"], action=args["action"])


def test_concurrent_begin_inserts_once(store_url: str) -> None:
    """Racing begins on separate connections create one entry; every racer is counted as an attempt."""
    stores = [open_store(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    entries: list[LedgerEntry] = []

    def race(s: Store) -> None:
        barrier.wait()
        entries.append(s.ledger.begin("a1", idempotency_key="k", action="x"))

    try:
        threads = [threading.Thread(target=race, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(e.attempts for e in entries) == [1, 2, 3, 4]
        assert stores[0].ledger.get("a1").attempts == 4  # type: ignore[union-attr]
    finally:
        for s in stores:
            s.close()
