"""The audit log (G7): append-only, hash-chained, tamper-evident, queryable, on SQLite and Postgres."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl.errors import AuditIntegrityError, HITLError
from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.audit import GENESIS_HASH, AuditEventError, AuditLog, VerifyResult
from langgraph_hitl.store.audit_verify import _FAST_VERIFY
from langgraph_hitl.types import AuditEvent

HASHED = (
    "seq",
    "event_id",
    "ts",
    "thread_id",
    "request_id",
    "action_id",
    "event",
    "actor",
    "action",
    "args",
    "args_hash",
    "reversibility",
    "risk",
    "decision",
    "outcome",
    "policy_version",
    "detail",
    "prev_hash",
)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on SQLite or Postgres, with a fixed clock."""
    with open_store(store_url, clock=lambda: 1_767_225_600.0) as opened:  # 2026-01-01T00:00:00Z
        yield opened


def ev(i: int, **extra: Any) -> AuditEvent:
    """A plausible event number `i`; keywords override fields."""
    event: dict[str, Any] = {
        "event_id": f"e{i}",
        "ts": f"2026-01-{1 + i % 28:02d}T10:00:00+00:00",
        "thread_id": f"t{i % 3}",
        "request_id": f"r{i % 4}",
        "action_id": f"a{i % 5}",
        "event": ("proposed", "approved", "executed")[i % 3],
        "actor": ("agent", "alice", "bob")[i % 3],
        "action": ("send_email", "delete_record")[i % 2],
        "args": {"to": "bob@example.com", "n": i},
        "risk": "high",
        "policy_version": "v1",
    }
    event.update(extra)
    return event  # type: ignore[return-value]


def seed(store: Store, n: int = 6) -> None:
    store.audit.append([ev(i) for i in range(1, n + 1)])


def raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return store.backend.execute(sql, params)


def drop_triggers(store: Store) -> None:
    """What an attacker with database access does first."""
    if store.backend.name == "postgres":
        raw(store, "DROP TRIGGER hitl_audit_append_only ON hitl_audit")
    else:
        raw(store, "DROP TRIGGER hitl_audit_no_update")
        raw(store, "DROP TRIGGER hitl_audit_no_delete")


def move_seqs(store: Store, *, above: int, by: int) -> None:
    """Renumber every row above `above` by `by`, through negatives so the primary key never collides."""
    raw(store, "UPDATE hitl_audit SET seq = -seq WHERE seq > ?", (above,))
    raw(store, "UPDATE hitl_audit SET seq = -seq + ? WHERE seq < 0", (by,))


def reference_hash(row: dict[str, Any], key: bytes | None = None) -> str:
    """The documented formula, computed without the library: sha256 or HMAC over the canonical JSON array."""
    text = json.dumps([row[c] for c in HASHED], separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, text, "sha256").hexdigest() if key else hashlib.sha256(text).hexdigest()


def db_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return errors
    return (*errors, psycopg.Error)


# -- append ---------------------------------------------------------------------------------


def test_append_chains_rows_from_genesis(store: Store) -> None:
    """Each row's prev_hash is the previous row's hash, the first one's is 64 zeros, seq counts from 1."""
    assert store.audit.append([ev(1), ev(2), ev(3)]) == [1, 2, 3]
    rows = raw(store, "SELECT seq, prev_hash, hash FROM hitl_audit ORDER BY seq")
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == GENESIS_HASH
    assert rows[1]["prev_hash"] == rows[0]["hash"] and rows[2]["prev_hash"] == rows[1]["hash"]


def test_append_hash_follows_the_documented_formula(store: Store) -> None:
    """An outside verifier can recompute every hash: sha256 of the canonical JSON array of the columns."""
    store.audit.append([ev(1, detail={"note": 'é "quoted" \\ \n'}), ev(2)])
    for row in raw(store, "SELECT * FROM hitl_audit ORDER BY seq"):
        assert reference_hash(row) == row["hash"]


def test_append_same_event_twice_lands_once(store: Store) -> None:
    """An event id already stored (or repeated in one batch) is skipped, and its first seq is returned."""
    assert store.audit.append([ev(1), ev(2)]) == [1, 2]
    assert store.audit.append([ev(2, actor="someone-else"), ev(3), ev(3)]) == [2, 3, 3]
    rows = raw(store, "SELECT event_id, actor FROM hitl_audit ORDER BY seq")
    assert [(r["event_id"], r["actor"]) for r in rows] == [("e1", "alice"), ("e2", "bob"), ("e3", "agent")]
    assert store.audit.verify().ok


def test_append_empty_batch_writes_nothing(store: Store) -> None:
    """An empty list is a no-op."""
    assert store.audit.append([]) == []
    assert store.audit.head() == (0, GENESIS_HASH)


def test_append_stamps_missing_ts_from_the_clock(store: Store) -> None:
    """An event without ts gets the store clock's time as ISO 8601 UTC."""
    store.audit.append([{"event_id": "x", "event": "notified", "actor": "auto"}])
    assert store.audit.tail(1)[0]["ts"] == "2026-01-01T00:00:00.000000+00:00"


def test_append_normalizes_ts_to_utc(store: Store) -> None:
    """Offsets and a trailing Z are stored as one UTC form, so text order is time order."""
    store.audit.append([ev(1, ts="2026-03-01T12:00:00+02:00"), ev(2, ts="2026-03-01T10:30:00Z")])
    assert [r["ts"] for r in store.audit.query()] == [
        "2026-03-01T10:00:00.000000+00:00",
        "2026-03-01T10:30:00.000000+00:00",
    ]


def test_append_computes_args_hash(store: Store) -> None:
    """args_hash is derived from args when absent."""
    store.audit.append([ev(1, args={"b": 2, "a": 1})])
    expected = hashlib.sha256(b'{"a":1,"b":2}').hexdigest()
    assert store.audit.tail(1)[0]["args_hash"] == expected


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"event": "approved", "actor": "alice"}, "no event_id"),
        ({"event_id": "", "event": "approved", "actor": "alice"}, "no event_id"),
        ({"event_id": "x", "event": "aproved", "actor": "alice"}, "event 'aproved'; allowed: approved"),
        ({"event_id": "x", "event": "approved"}, "actor None"),
        ({"event_id": "x", "event": "approved", "actor": "a", "node": "review"}, r"unknown keys \['node'\]"),
        (
            {"event_id": "x", "event": "approved", "actor": "a", "ts": "yesterday"},
            "'yesterday', not an ISO 8601",
        ),
        (
            {"event_id": "x", "event": "approved", "actor": "a", "args": {"when": datetime.now()}},
            "plain JSON",
        ),
        ({"event_id": "x", "event": "approved", "actor": "a", "thread_id": 7}, "thread_id=7"),
        (
            {"event_id": "x", "event": "approved", "actor": "a", "args": {"a": 1}, "args_hash": "f00"},
            "args_hash 'f00' but its args hash to",
        ),
    ],
)
def test_append_rejects_malformed_event(store: Store, event: dict[str, Any], match: str) -> None:
    """A malformed event raises AuditEventError naming the problem, and nothing is written."""
    with pytest.raises(AuditEventError, match=match) as info:
        store.audit.append([ev(1), event])  # type: ignore[list-item]
    assert isinstance(info.value, (HITLError, ValueError))
    assert store.audit.head() == (0, GENESIS_HASH)


def test_append_rejects_a_single_dict(store: Store) -> None:
    """Passing one event instead of a list says how to fix it."""
    with pytest.raises(TypeError, match=r"append\(\[event\]\)"):
        store.audit.append(ev(1))  # type: ignore[arg-type]


def test_append_from_two_connections_keeps_one_chain(store_url: str) -> None:
    """Writers on separate connections interleave without forking the chain (the chain lock)."""
    stores = [open_store(store_url), open_store(store_url)]
    try:

        def write(k: int) -> None:
            for b in range(10):
                stores[k].audit.append([ev(1000 * k + 10 * b + j) for j in range(5)])

        threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert stores[0].audit.verify() == VerifyResult(
            ok=True, checked=100, head_hash=stores[0].audit.head()[1]
        )
    finally:
        for s in stores:
            s.close()


# -- the database refuses changes ----------------------------------------------------------


def test_database_refuses_update(store: Store) -> None:
    """UPDATE on hitl_audit is refused by a trigger."""
    seed(store, 2)
    with pytest.raises(db_errors(), match="append-only: UPDATE refused"):
        raw(store, "UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 1")


def test_database_refuses_delete(store: Store) -> None:
    """DELETE on hitl_audit is refused by a trigger."""
    seed(store, 2)
    with pytest.raises(db_errors(), match="append-only: DELETE refused"):
        raw(store, "DELETE FROM hitl_audit WHERE seq = 2")


# -- verify catches each kind of tampering -------------------------------------------------


def test_verify_passes_an_untouched_log(store: Store) -> None:
    """A clean log verifies, counting every row, in any batch size."""
    seed(store, 7)
    for batch in (1, 2, 3, 20_000):
        result = store.audit.verify(batch=batch)
        assert result.ok and bool(result) and result.checked == 7 and result.first_bad_seq is None
        assert result.head_hash == store.audit.head()[1]


def test_verify_passes_an_empty_log(store: Store) -> None:
    """An empty log verifies with nothing checked."""
    assert store.audit.verify() == VerifyResult(ok=True, checked=0)


@pytest.mark.parametrize("batch", [2, 20_000])
def test_verify_catches_edited_field(store: Store, batch: int) -> None:
    """Changing any field of a row is reported at that row."""
    seed(store)
    drop_triggers(store)
    raw(store, "UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 4")
    result = store.audit.verify(batch=batch)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert "row 4's contents do not match its hash: the row was edited" in (result.reason or "")


def test_verify_catches_edited_args(store: Store) -> None:
    """Changing the stored arguments is reported at that row."""
    seed(store)
    drop_triggers(store)
    raw(store, "UPDATE hitl_audit SET args = ? WHERE seq = 2", ('{"n":2,"to":"mallory@example.com"}',))
    assert store.audit.verify().first_bad_seq == 2


def test_verify_catches_edit_with_recomputed_hash(store: Store) -> None:
    """Re-hashing an edited row breaks the next row's link; verify names that next row."""
    seed(store)
    drop_triggers(store)
    raw(store, "UPDATE hitl_audit SET decision = 'approved' WHERE seq = 3")
    row = raw(store, "SELECT * FROM hitl_audit WHERE seq = 3")[0]
    raw(store, "UPDATE hitl_audit SET hash = ? WHERE seq = 3", (reference_hash(row),))
    result = store.audit.verify()
    assert result.first_bad_seq == 4 and "prev_hash is not the hash of row 3" in (result.reason or "")


@pytest.mark.parametrize("batch", [2, 20_000])
def test_verify_catches_deleted_row(store: Store, batch: int) -> None:
    """A deleted row leaves a gap in seq; verify names the missing seq."""
    seed(store)
    drop_triggers(store)
    raw(store, "DELETE FROM hitl_audit WHERE seq = 3")
    result = store.audit.verify(batch=batch)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert "row 3 is missing: the log jumps from seq 2 to 4" in (result.reason or "")


def test_verify_catches_deleted_first_row(store: Store) -> None:
    """Deleting row 1 is reported as seq 1 missing."""
    seed(store)
    drop_triggers(store)
    raw(store, "DELETE FROM hitl_audit WHERE seq = 1")
    assert store.audit.verify().first_bad_seq == 1


def test_verify_catches_deleted_and_renumbered_rows(store: Store) -> None:
    """Closing the gap by renumbering breaks the link at the renumbered row."""
    seed(store)
    drop_triggers(store)
    raw(store, "DELETE FROM hitl_audit WHERE seq = 3")
    move_seqs(store, above=3, by=-1)
    result = store.audit.verify()
    assert result.first_bad_seq == 3 and "prev_hash is not the hash of row 2" in (result.reason or "")


@pytest.mark.parametrize("batch", [1, 20_000])
def test_verify_catches_swapped_rows(store: Store, batch: int) -> None:
    """Swapping two rows' seq is reported at the first of them."""
    seed(store)
    drop_triggers(store)
    raw(store, "UPDATE hitl_audit SET seq = -1 WHERE seq = 3")
    raw(store, "UPDATE hitl_audit SET seq = 3 WHERE seq = 5")
    raw(store, "UPDATE hitl_audit SET seq = 5 WHERE seq = -1")
    result = store.audit.verify(batch=batch)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_verify_catches_forged_row_inserted_in_the_middle(store: Store) -> None:
    """A forged row with a valid hash, slipped in between, breaks the link of the row after it."""
    seed(store)
    drop_triggers(store)
    move_seqs(store, above=2, by=1)
    forged: dict[str, Any] = dict.fromkeys(HASHED)
    forged.update(
        seq=3,
        event_id="forged",
        ts="2026-01-03T10:00:00.000000+00:00",
        event="approved",
        actor="mallory",
        prev_hash=raw(store, "SELECT hash FROM hitl_audit WHERE seq = 2")[0]["hash"],
    )
    cols = ", ".join((*HASHED, "hash"))
    raw(
        store,
        f"INSERT INTO hitl_audit ({cols}) VALUES ({', '.join('?' * 19)})",
        (*(forged[c] for c in HASHED), reference_hash(forged)),
    )
    result = store.audit.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)


def test_verify_catches_forged_tail_only_with_hmac_key(store_url: str) -> None:
    """Without a key a forger can append a well-hashed row; with HMAC the forged row is caught."""
    key = b"k" * 32
    with open_store(store_url, hmac_key=key) as store:
        seed(store, 3)
        seq, head = store.audit.head()
        forged: dict[str, Any] = dict.fromkeys(HASHED)
        forged.update(
            seq=seq + 1,
            event_id="forged",
            ts="2026-02-01T00:00:00.000000+00:00",
            event="approved",
            actor="mallory",
            prev_hash=head,
        )
        cols = ", ".join((*HASHED, "hash"))
        raw(
            store,
            f"INSERT INTO hitl_audit ({cols}) VALUES ({', '.join('?' * 19)})",
            (*(forged[c] for c in HASHED), reference_hash(forged)),
        )
        result = store.audit.verify()
        assert (result.ok, result.first_bad_seq) == (False, 4)
        assert "another hmac_key" in (result.reason or "")
        assert (
            AuditLog(store.backend).verify().first_bad_seq == 1
        )  # a plain-sha256 reader sees rows 1-3 as bad


def test_verify_with_hmac_key_follows_the_documented_formula(store_url: str) -> None:
    """Keyed rows are HMAC-SHA256 over the same canonical text."""
    with open_store(store_url, hmac_key=b"secret") as store:
        seed(store, 2)
        for row in raw(store, "SELECT * FROM hitl_audit ORDER BY seq"):
            assert reference_hash(row, b"secret") == row["hash"]
        assert store.audit.verify().ok


def test_verify_with_wrong_hmac_key_fails(store_url: str) -> None:
    """A log written with one key does not verify with another."""
    with open_store(store_url, hmac_key=b"right") as store:
        seed(store, 3)
        wrong = AuditLog(store.backend, hmac_key=b"wrong").verify()
    assert (wrong.ok, wrong.first_bad_seq) == (False, 1)


def test_verify_anchor_catches_truncated_tail(store: Store) -> None:
    """Rows removed from the end are caught against a head recorded earlier."""
    seed(store)
    anchor = store.audit.head()
    assert store.audit.verify(anchor=anchor).ok
    drop_triggers(store)
    raw(store, "DELETE FROM hitl_audit WHERE seq >= 5")
    assert store.audit.verify().ok  # the chain alone cannot tell
    result = store.audit.verify(anchor=anchor)
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert "rows were removed from the end" in (result.reason or "")


def test_verify_anchor_catches_rewritten_log(store: Store) -> None:
    """A log rebuilt with valid hashes still differs from the recorded head hash."""
    seed(store, 3)
    anchor = store.audit.head()
    drop_triggers(store)
    raw(store, "DELETE FROM hitl_audit")
    store.audit.append([ev(1, actor="mallory"), ev(2), ev(3)])
    result = store.audit.verify(anchor=anchor)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_verify_reports_non_text_value(db_url: str) -> None:
    """A BLOB smuggled into a text column (SQLite allows it) is reported, not a crash."""
    with open_store(db_url) as store:
        seed(store, 3)
        drop_triggers(store)
        raw(store, "UPDATE hitl_audit SET actor = X'00FF' WHERE seq = 2")
        result = store.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "not text or a number" in (result.reason or "")


def test_verify_inside_a_transaction(store: Store) -> None:
    """verify() called inside the store's transaction fetches inline instead of deadlocking."""
    seed(store, 5)
    with store.transaction():
        store.audit.append([ev(6)])
        assert store.audit.verify(batch=2).checked == 6


def test_verify_fast_path_agrees_with_reference_encoding(store: Store) -> None:
    """The database's canonical text equals Python's for awkward strings, so the fast path is used."""
    awkward = 'é ü 日本 🚀 "q" \\ \n\t\r\b\f \x01\x1f \u2028 \x7f </script>'
    store.audit.append([ev(1, detail={"s": awkward}, actor=awkward, action='a"b'), ev(2, thread_id=awkward)])
    agg = store.backend.execute(_FAST_VERIFY[store.backend.name], (0, 100))[0]
    assert store.audit._batch_verifies(agg, 1, GENESIS_HASH)
    assert store.audit.verify().ok


def test_verify_raise_for_status(store: Store) -> None:
    """A failed result raises AuditIntegrityError carrying the bad seq; a good one returns itself."""
    seed(store, 3)
    good = store.audit.verify()
    assert good.raise_for_status() is good
    drop_triggers(store)
    raw(store, "UPDATE hitl_audit SET event = 'rejected' WHERE seq = 2")
    with pytest.raises(AuditIntegrityError, match="failed verification at seq 2") as info:
        store.audit.verify().raise_for_status()
    assert info.value.seq == 2
    with pytest.raises(AuditIntegrityError, match="row 2's contents"):
        store.audit.verify(raise_on_error=True)


def test_verify_rejects_bad_batch(store: Store) -> None:
    """batch must be positive."""
    with pytest.raises(ValueError, match="batch must be at least 1, got 0"):
        store.audit.verify(batch=0)


# -- query, tail, export -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"thread_id": "t1"}, [1, 4, 7, 10]),
        ({"request_id": "r2"}, [2, 6, 10]),
        ({"action_id": "a0"}, [5, 10]),
        ({"actor": "alice"}, [1, 4, 7, 10]),
        ({"event": "executed"}, [2, 5, 8]),
        ({"event": ["proposed", "executed"]}, [1, 2, 4, 5, 7, 8, 10]),
        ({"event": []}, []),
        ({"action": "send_email"}, [2, 4, 6, 8, 10]),
        ({"since": "2026-01-05T10:00:00+00:00"}, [4, 5, 6, 7, 8, 9, 10]),
        ({"until": "2026-01-03"}, [1]),
        ({"since": datetime(2026, 1, 3, 10), "until": datetime(2026, 1, 5, 10, tzinfo=timezone.utc)}, [2, 3]),
        ({"actor": "alice", "action": "send_email"}, [4, 10]),
        ({"limit": 3}, [1, 2, 3]),
        ({"limit": 3, "descending": True}, [10, 9, 8]),
        ({"limit": 0}, []),
    ],
)
def test_query_filters(store: Store, filters: dict[str, Any], expected: list[int]) -> None:
    """Each filter (and their combination) selects exactly the matching rows, in seq order."""
    store.audit.append([ev(i, event=("approved", "proposed", "executed")[i % 3]) for i in range(1, 11)])
    rows = store.audit.query(**filters)
    assert [r["seq"] for r in rows] == expected


def test_query_parses_args_and_detail(store: Store) -> None:
    """args and detail come back as dicts, exactly as written."""
    store.audit.append([ev(1, args={"to": ["a", "b"], "n": 1.5}, detail={"why": "ok"})])
    row = store.audit.query()[0]
    assert row["args"] == {"to": ["a", "b"], "n": 1.5} and row["detail"] == {"why": "ok"}
    assert set(row) == {*HASHED, "hash"}


def test_query_rejects_bad_time(store: Store) -> None:
    """A since that is not a time says what format to use."""
    with pytest.raises(ValueError, match="since is 'last week', not an ISO 8601 time"):
        store.audit.query(since="last week")


def test_tail_returns_newest_oldest_first(store: Store) -> None:
    """tail(n) is the last n rows in chronological order."""
    seed(store, 6)
    assert [r["seq"] for r in store.audit.tail(2)] == [5, 6]


def test_query_pages_through_large_results(db_url: str) -> None:
    """Results beyond one internal page (5,000 rows) are complete and ordered."""
    with open_store(db_url) as store:
        store.audit.append([{"event_id": f"x{i}", "event": "notified", "actor": "auto"} for i in range(5003)])
        assert [r["seq"] for r in store.audit.query(descending=True)][:2] == [5003, 5002]
        assert len(store.audit.query(limit=5002)) == 5002
        assert store.audit.export_jsonl(io.StringIO()) == 5003


def test_export_jsonl_round_trips(store: Store, tmp_path: Path) -> None:
    """Exported lines parse back to exactly what query() returns, to a path or a stream."""
    seed(store, 5)
    path = tmp_path / "audit.jsonl"
    assert store.audit.export_jsonl(path) == 5
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == store.audit.query()
    buffer = io.StringIO()
    assert store.audit.export_jsonl(buffer, actor="alice") == 2
    assert [json.loads(line) for line in buffer.getvalue().splitlines()] == store.audit.query(actor="alice")


def test_keyed_log_is_recorded_and_enforced(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log started with a key: readable without it, but unkeyed appends and other keys are refused."""
    monkeypatch.delenv("LANGGRAPH_HITL_AUDIT_KEY", raising=False)
    event = {"event_id": "k1", "event": "approved", "actor": "alice", "action": "send_email"}
    with open_store(store_url, hmac_key=b"k-one") as store:
        store.audit.append([event])
    with open_store(store_url) as store:  # no key: it reads, verify says why it cannot check, appends fail
        assert store.audit.query(actor="alice")[0]["event_id"] == "k1"
        result = store.audit.verify()
        assert not result.ok and "opened without its key" in (result.reason or "")
        with pytest.raises(AuditIntegrityError, match="opened without its key"):
            store.audit.append([{**event, "event_id": "k2"}])
    with pytest.raises(AuditIntegrityError, match="keyed with another key"):
        open_store(store_url, hmac_key=b"k-two")
    monkeypatch.setenv("LANGGRAPH_HITL_AUDIT_KEY", "k-one")  # the environment supplies it to every path
    with open_store(store_url) as store:
        store.audit.append([{**event, "event_id": "k3"}])
        assert store.audit.verify().ok and store.audit.verify().checked == 2


def test_unkeyed_log_cannot_be_keyed_later(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log begun without a key refuses a key, which would break its chain from row 1."""
    monkeypatch.delenv("LANGGRAPH_HITL_AUDIT_KEY", raising=False)
    with open_store(db_url) as store:
        store.audit.append([{"event_id": "u1", "event": "approved", "actor": "alice"}])
    with pytest.raises(AuditIntegrityError, match="started without a key"):
        open_store(db_url, hmac_key=b"late")
