"""The audit log (`hitl_audit`): append-only, hash-chained, queryable (G7).

Every row carries `prev_hash`, the hash of the row before it, and `hash`, computed over the
row itself:

```
hash = sha256(canonical_json([seq, event_id, ts, thread_id, request_id, action_id, event, actor,
                              action, args, args_hash, reversibility, risk, decision, outcome,
                              policy_version, detail, prev_hash]))
```

or HMAC-SHA256 with a key when the log is opened with `hmac_key` (then nobody without the key
can forge a row, even one appended at the end). `args` and `detail` enter the hash as the
canonical JSON text stored in their columns; the first row's `prev_hash` is 64 zeros.
The database refuses UPDATE and DELETE (triggers); `verify()` catches whoever drops them.

Example:
    ```python
    log.append([{"event_id": "e1", "event": "approved", "actor": "alice", "action": "send_email"}])
    log.verify().raise_for_status()
    log.query(actor="alice", since="2026-01-01")
    ```
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from operator import methodcaller
from pathlib import Path
from typing import Any, TextIO

from .._canonical import args_hash as _args_hash
from .._canonical import canonical_json, check_json, iso
from ..errors import AuditIntegrityError, HITLError
from ..types import AuditEvent
from ._db import Backend

__all__ = ["AUDIT_EVENTS", "GENESIS_HASH", "AuditEventError", "AuditLog", "VerifyResult"]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first row."""

AUDIT_EVENTS: frozenset[str] = frozenset(
    {
        "proposed",
        "auto_approved",
        "notified",
        "approved",
        "edited",
        "rejected",
        "responded",
        "revision_requested",
        "timed_out",
        "escalated",
        "refused",
        "executed",
        "failed",
        "denied",
        "feedback",
    }
)
"""The event names the log accepts (see `types.AuditEvent.event`)."""

_HASHED = (
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
_COLUMNS = ", ".join((*_HASHED, "hash"))
_TEXT_FIELDS = (
    "thread_id",
    "request_id",
    "action_id",
    "action",
    "args_hash",
    "reversibility",
    "risk",
    "decision",
    "outcome",
    "policy_version",
)
_EVENT_KEYS = frozenset(AuditEvent.__annotations__)

# `verify()` has the database build each row's canonical text and return a whole batch as a
# few long strings (one query step, so the GIL is free while the next batch is computed in a
# prefetch thread). Python's reference encoding decides every batch these strings do not
# vouch for, so a dialect quirk can only slow verification down, never fool it.
_AGGREGATE = (
    "SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi, "
    "SUM(CASE WHEN length(hash) = 64 THEN 0 ELSE 1 END) AS odd, {cat_hash} AS hashes, {cat_prev} AS prevs, "
    "{cat_canon} AS canons FROM (SELECT seq, hash, prev_hash, {canon} AS canon FROM hitl_audit "
    "WHERE seq > ? ORDER BY seq LIMIT ?) AS b"
)
_FAST_VERIFY = {
    "sqlite": _AGGREGATE.format(
        canon="json_array(" + ", ".join(_HASHED) + ")",
        cat_hash="group_concat(hash, '')",
        cat_prev="group_concat(prev_hash, '')",
        cat_canon="CAST(group_concat(canon, char(10)) AS BLOB)",
    ),
    "postgres": _AGGREGATE.format(
        canon="'[' || seq::text || "
        + " || ".join(f"',' || COALESCE(to_json({c})::text, 'null')" for c in _HASHED[1:])
        + " || ']'",
        cat_hash="string_agg(hash, '' ORDER BY seq)",
        cat_prev="string_agg(prev_hash, '' ORDER BY seq)",
        cat_canon="convert_to(string_agg(canon, chr(10) ORDER BY seq), 'UTF8')",
    ),
}
_hexdigest = methodcaller("hexdigest")


class AuditEventError(HITLError, ValueError):
    """An audit event is malformed (missing `event_id`, unknown event name, non-JSON args, ...)."""


@dataclass(frozen=True)
class VerifyResult:
    """What `AuditLog.verify()` found. Truthy when the chain verifies."""

    ok: bool
    """True when every row verified."""
    checked: int
    """Rows verified good (all of them when `ok`, those before the first bad row otherwise)."""
    first_bad_seq: int | None = None
    """The first row that does not verify (or the first missing seq), None when `ok`."""
    reason: str | None = None
    """Why that row failed, None when `ok`."""
    head_hash: str = GENESIS_HASH
    """The hash of the last good row; record it to detect later truncation (`verify(anchor=...)`)."""

    def __bool__(self) -> bool:
        return self.ok

    def raise_for_status(self) -> VerifyResult:
        """Return self when the chain verified.

        Raises:
            AuditIntegrityError: It did not; `.seq` is the first bad row.
        """
        if not self.ok:
            msg = f"Audit log failed verification at seq {self.first_bad_seq}: {self.reason}"
            raise AuditIntegrityError(msg, seq=self.first_bad_seq)
        return self


class AuditLog:
    """Append, verify, query and export the hash-chained audit log.

    Args:
        backend: The database connection (from `open_store`).
        hmac_key: Key the hashes with HMAC-SHA256; verification needs the same key.
        clock: Returns the epoch time; stamps events that arrive without `ts`.
    """

    def __init__(
        self, backend: Backend, *, hmac_key: bytes | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        if hmac_key is not None and not isinstance(hmac_key, bytes):
            msg = f"hmac_key must be bytes, got {type(hmac_key).__name__}; pass e.g. os.environb[b'HITL_AUDIT_KEY']."
            raise TypeError(msg)
        self.backend = backend
        self.clock = clock
        self._keyed = bool(hmac_key)
        self.keyed_without_key = False
        """True when the log was started with a key and this store was opened without it: reads only."""
        # One digest per row, as C-level callables mapped over a whole batch in `verify()`.
        self._digest_many: Callable[[Iterator[bytes]], Iterator[str]]
        if hmac_key:
            keyed = partial(hmac.digest, hmac_key, digest="sha256")
            self._digest_many = lambda items: map(bytes.hex, map(keyed, items))
        else:
            self._digest_many = lambda items: map(_hexdigest, map(hashlib.sha256, items))

    def _digest(self, data: bytes) -> str:
        return next(iter(self._digest_many(iter((data,)))))

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        events: Sequence[AuditEvent],
        *,
        admit: Callable[[list[Any]], Sequence[AuditEvent]] | None = None,
    ) -> list[int]:
        """Chain `events` onto the log in one transaction, skipping event ids already stored.

        Args:
            events: Events to write, oldest first; each needs `event_id`, `event` and `actor`.
                A missing `ts` is stamped from the clock; `args_hash` is computed from `args`.
            admit: Called with the events whose ids are not stored yet; returns what to write
                instead (the runner passes `trusted_events`, so only the new events of a
                thread's trail are checked, not the whole trail on every write).

        Returns:
            The seq of each event written or found, in order: the new row's, or the existing
            row's for an event id already in the log (the same event written twice lands once).

        Raises:
            AuditEventError: An event is malformed; nothing is written.
        """
        if isinstance(events, Mapping):
            msg = "append() takes a list of events; wrap the single event: append([event])."
            raise TypeError(msg)
        if self.keyed_without_key and events:
            msg = (
                "This audit log is keyed, and this store was opened without its key: appending unkeyed rows "
                "would break the chain. Open it with hmac_key=... or set LANGGRAPH_HITL_AUDIT_KEY."
            )
            raise AuditIntegrityError(msg)
        if not events:
            return []
        if admit is not None:
            with self.backend.transaction():
                self.backend.lock_audit_chain()
                ids = [e.get("event_id") for e in events if isinstance(e, Mapping)]
                known = self._existing([i for i in ids if isinstance(i, str)])
                fresh = [e for e in events if not (isinstance(e, Mapping) and e.get("event_id") in known)]
                return self.append(admit(fresh)) if fresh else []
        now = iso(self.clock())
        prepared = [_prepare(event, index, now) for index, event in enumerate(events)]
        with self.backend.transaction():
            self.backend.lock_audit_chain()
            seqs = self._existing([p["event_id"] for p in prepared])
            last = self.backend.execute("SELECT seq, hash FROM hitl_audit ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(last[0]["seq"]), str(last[0]["hash"])) if last else (0, GENESIS_HASH)
            rows = []
            for p in prepared:
                if p["event_id"] in seqs:
                    continue
                seq += 1
                row = [seq, *(p[c] for c in _HASHED[1:-1]), prev]
                prev = self._digest(canonical_json(row).encode("utf-8"))
                rows.append((*row, prev))
                seqs[p["event_id"]] = seq
            if rows:
                placeholders = ", ".join("?" * (len(_HASHED) + 1))
                self.backend.executemany(f"INSERT INTO hitl_audit ({_COLUMNS}) VALUES ({placeholders})", rows)
        return [seqs[p["event_id"]] for p in prepared]

    def _existing(self, event_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            sql = f"SELECT event_id, seq FROM hitl_audit WHERE event_id IN ({', '.join('?' * len(chunk))})"
            found.update({r["event_id"]: int(r["seq"]) for r in self.backend.execute(sql, chunk)})
        return found

    # -- verifying -------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The last row's `(seq, hash)`, or `(0, GENESIS_HASH)` for an empty log.

        Keep it somewhere the database's writers cannot reach and pass it to `verify(anchor=...)`
        later: that catches rows removed from the end, which the chain alone cannot show.
        """
        rows = self.backend.execute("SELECT seq, hash FROM hitl_audit ORDER BY seq DESC LIMIT 1")
        return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else (0, GENESIS_HASH)

    def verify(
        self, *, batch: int = 20_000, anchor: tuple[int, str] | None = None, raise_on_error: bool = False
    ) -> VerifyResult:
        """Recompute the chain from the first row and report the first row that does not verify.

        Catches an edited row (its hash no longer matches), a deleted row (a gap in seq, or a
        `prev_hash` that names another row), reordered rows, and a forged row inserted with a
        wrong hash (or, with `hmac_key`, any forged row). Rows are streamed in seq order.

        Args:
            batch: Rows fetched per query.
            anchor: A `(seq, hash)` recorded earlier from `head()`; the row must still exist with
                that hash, which catches truncation of the newest rows.
            raise_on_error: Raise instead of returning a failed result.

        Returns:
            A `VerifyResult`; `first_bad_seq` and `reason` name the first bad row.

        Raises:
            AuditIntegrityError: The chain does not verify and `raise_on_error` is set.
        """
        if batch < 1:
            msg = f"batch must be at least 1, got {batch}."
            raise ValueError(msg)
        if self.keyed_without_key:
            result = VerifyResult(ok=False, checked=0, first_bad_seq=None, reason=(
                "the log is keyed and was opened without its key: pass hmac_key=... or set "
                "LANGGRAPH_HITL_AUDIT_KEY to verify it"))  # fmt: skip
            return result.raise_for_status() if raise_on_error else result
        result = self._verify_chain(batch)
        if result.ok and anchor is not None:
            result = self._check_anchor(result, anchor)
        return result.raise_for_status() if raise_on_error else result

    def _verify_chain(self, batch: int) -> VerifyResult:
        fast = _FAST_VERIFY.get(self.backend.name)
        raw = f"SELECT {_COLUMNS} FROM hitl_audit WHERE seq > ? ORDER BY seq LIMIT ?"
        expect, prev = 1, GENESIS_HASH
        while True:
            if fast is not None:
                threaded = not _in_transaction(self.backend)
                with contextlib.closing(
                    _batches(self.backend, fast, batch, expect - 1, threaded=threaded)
                ) as aggs:
                    for agg in aggs:
                        if agg is None or not self._batch_verifies(agg, expect, prev):
                            break  # the reference path below decides this batch
                        if not agg["n"]:
                            return VerifyResult(ok=True, checked=expect - 1, head_hash=prev)
                        expect, prev = expect + int(agg["n"]), agg["hashes"][-64:]
            rows = self.backend.execute(raw, (expect - 1, batch))
            if not rows:
                return VerifyResult(ok=True, checked=expect - 1, head_hash=prev)
            for row in rows:
                reason = self._row_problem(row, expect, prev)
                if reason is not None:
                    return VerifyResult(
                        ok=False, checked=expect - 1, first_bad_seq=expect, reason=reason, head_hash=prev
                    )
                expect, prev = expect + 1, row["hash"]

    def _batch_verifies(self, agg: dict[str, Any], expect: int, prev: str) -> bool:
        """True when a whole batch checks out: seqs contiguous, each row linked and hashing to its hash."""
        n = int(agg["n"])
        if not n:
            return True
        hashes, canons = agg["hashes"], agg["canons"]  # canons: the rows' texts as UTF-8 bytes
        if (
            agg["lo"] != expect
            or agg["hi"] != expect + n - 1
            or agg["odd"]
            or agg["prevs"] != prev + hashes[:-64]
        ):
            return False
        # Canonical JSON escapes control characters, so a row's text never holds a newline:
        # n lines means each line is exactly one row's text.
        lines = bytes(canons).split(b"\n")
        return len(lines) == n and "".join(self._digest_many(iter(lines))) == hashes

    def _row_problem(self, row: dict[str, Any], expect: int, prev: str) -> str | None:
        """Why one row breaks the chain, by the reference encoding, or None when it is sound."""
        seq = row["seq"]
        if seq != expect:
            return (
                f"row {expect} is missing: the log jumps from seq {expect - 1} to {seq} "
                "(rows deleted or renumbered)"
            )
        if row["prev_hash"] != prev:
            return (
                f"row {seq}'s prev_hash is not the hash of row {seq - 1}: a row before it was "
                "removed, inserted or reordered"
            )
        try:
            text = canonical_json([row[c] for c in _HASHED])
        except (TypeError, ValueError):
            return f"row {seq} holds a value that is not text or a number: the row was edited"
        if not isinstance(row["hash"], str) or self._digest(text.encode("utf-8")) != row["hash"]:
            key = " (or the log was written with another hmac_key)" if self._keyed else ""
            return f"row {seq}'s contents do not match its hash: the row was edited{key}"
        return None

    def _check_anchor(self, result: VerifyResult, anchor: tuple[int, str]) -> VerifyResult:
        seq, expected = anchor
        if seq < 1:
            return result
        rows = self.backend.execute("SELECT hash FROM hitl_audit WHERE seq = ?", (seq,))
        if not rows:
            reason = f"the log ends at seq {result.checked} but the anchor names seq {seq}: rows were removed from the end"
            return VerifyResult(
                ok=False,
                checked=result.checked,
                first_bad_seq=result.checked + 1,
                reason=reason,
                head_hash=result.head_hash,
            )
        if rows[0]["hash"] != expected:
            reason = (
                f"row {seq}'s hash differs from the anchor's: the log was rewritten from there or earlier"
            )
            return VerifyResult(
                ok=False, checked=result.checked, first_bad_seq=seq, reason=reason, head_hash=result.head_hash
            )
        return result

    # -- reading ---------------------------------------------------------------------------

    def query(
        self,
        *,
        thread_id: str | None = None,
        request_id: str | None = None,
        action_id: str | None = None,
        actor: str | None = None,
        event: str | Sequence[str] | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows matching every given filter, in seq order.

        Args:
            thread_id: Only this thread's events.
            request_id: Only this inbox request's events.
            action_id: Only this action's events.
            actor: Only events caused by this actor (`alice`, `auto`, `system:timeout`, ...).
            event: An event name, or several (any of them).
            action: Only events about actions of this name.
            since: Events at or after this time (ISO 8601 text or a datetime; naive means UTC).
            until: Events strictly before this time.
            limit: At most this many rows.
            descending: Newest first.

        Returns:
            One dict per row with every column (`seq` ... `prev_hash`, `hash`); `args` and `detail`
            parsed back to dicts.

        Raises:
            ValueError: `since`/`until` is not an ISO 8601 time, or `limit` is negative.
        """
        return list(
            self._iter(
                _filters(thread_id, request_id, action_id, actor, event, action, since, until),
                limit=limit,
                descending=descending,
            )
        )

    def tail(self, n: int = 20) -> list[dict[str, Any]]:
        """The newest `n` rows, oldest first."""
        return list(reversed(self.query(limit=n, descending=True)))

    def export_jsonl(
        self,
        dest: str | Path | TextIO,
        *,
        thread_id: str | None = None,
        request_id: str | None = None,
        action_id: str | None = None,
        actor: str | None = None,
        event: str | Sequence[str] | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> int:
        """Write matching rows as JSON Lines (one canonical JSON object per row, oldest first).

        Args:
            dest: A path (created or overwritten, UTF-8) or an open text stream.
            thread_id, request_id, action_id, actor, event, action, since, until: Filters, as in `query()`.

        Returns:
            The number of rows written.
        """
        rows = self._iter(_filters(thread_id, request_id, action_id, actor, event, action, since, until))
        if isinstance(dest, (str, Path)):
            with Path(dest).open("w", encoding="utf-8", newline="\n") as stream:
                return _write_lines(stream, rows)
        return _write_lines(dest, rows)

    def _iter(
        self,
        where: tuple[list[str], list[Any]],
        *,
        limit: int | None = None,
        descending: bool = False,
        page: int = 5_000,
    ) -> Iterator[dict[str, Any]]:
        """Stream matching rows by keyset pagination on seq, so exports never load the whole log."""
        if limit is not None and limit < 0:
            msg = f"limit must be zero or more, got {limit}."
            raise ValueError(msg)
        clauses, params = where
        order, cmp = ("DESC", "<") if descending else ("ASC", ">")
        cursor: int | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = page if remaining is None else min(page, remaining)
            extra = [*clauses, f"seq {cmp} ?"] if cursor is not None else clauses
            sql = (
                f"SELECT {_COLUMNS} FROM hitl_audit{' WHERE ' + ' AND '.join(extra) if extra else ''} "
                f"ORDER BY seq {order} LIMIT ?"
            )
            rows = self.backend.execute(sql, [*params, *([cursor] if cursor is not None else []), size])
            for row in rows:
                yield _record(row)
            if len(rows) < size:
                return
            cursor = rows[-1]["seq"]
            if remaining is not None:
                remaining -= len(rows)


def _prepare(event: AuditEvent, index: int, now: str) -> dict[str, Any]:
    """Validate one event and turn it into column values (everything but seq and the hashes)."""
    where = f"audit event #{index}"
    if not isinstance(event, Mapping):
        msg = f"{where} is a {type(event).__name__}; each event is a dict (types.AuditEvent)."
        raise AuditEventError(msg)
    unknown = sorted(set(event) - _EVENT_KEYS)
    if unknown:
        msg = (
            f"{where} has unknown keys {unknown}; allowed: {sorted(_EVENT_KEYS)}. Put extra data in 'detail'."
        )
        raise AuditEventError(msg)
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        msg = (
            f"{where} ({event.get('event')!r}) has no event_id (got {event_id!r}); every event needs a "
            "stable, unique id (derived from what it records) so writing it twice stores it once."
        )
        raise AuditEventError(msg)
    where = f"audit event {event_id!r}"
    name = event.get("event")
    if name not in AUDIT_EVENTS:
        msg = f"{where} has event {name!r}; allowed: {', '.join(sorted(AUDIT_EVENTS))}."
        raise AuditEventError(msg)
    actor = event.get("actor")
    if not isinstance(actor, str) or not actor:
        msg = f"{where} has actor {actor!r}; name who caused it (an approver, 'auto', 'system:timeout', the agent)."
        raise AuditEventError(msg)
    out: dict[str, Any] = {"event_id": event_id, "event": name, "actor": actor}
    for key in _TEXT_FIELDS:
        value = event.get(key)
        if value is not None and not isinstance(value, str):
            msg = f"{where} has {key}={value!r} ({type(value).__name__}); it must be a string or None."
            raise AuditEventError(msg)
        out[key] = value
    ts = event.get("ts")
    try:
        out["ts"] = now if ts is None else _utc_text(ts, what=f"{where} ts")
    except ValueError as exc:
        raise AuditEventError(str(exc)) from None
    for key in ("args", "detail"):
        value = event.get(key)
        try:
            check_json(value, where=f"{where} {key}")
        except TypeError as exc:
            raise AuditEventError(str(exc)) from None
        out[key] = None if value is None else canonical_json(value)
    if event.get("args") is not None:
        computed = _args_hash(event["args"])
        if out["args_hash"] is not None and out["args_hash"] != computed:
            msg = f"{where} has args_hash {out['args_hash']!r} but its args hash to {computed!r}; drop args_hash."
            raise AuditEventError(msg)
        out["args_hash"] = computed
    return out


def _utc_text(value: object, *, what: str) -> str:
    """ISO 8601 UTC text with microseconds, the one form stored, so text order is time order."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        except ValueError:
            msg = f"{what} is {value!r}, not an ISO 8601 time; use e.g. '2026-01-31T09:30:00+00:00'."
            raise ValueError(msg) from None
    else:
        msg = f"{what} is a {type(value).__name__} ({value!r}); pass ISO 8601 text or a datetime."
        raise ValueError(msg)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _filters(
    thread_id: str | None,
    request_id: str | None,
    action_id: str | None,
    actor: str | None,
    event: str | Sequence[str] | None,
    action: str | None,
    since: str | datetime | None,
    until: str | datetime | None,
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("thread_id", thread_id),
        ("request_id", request_id),
        ("action_id", action_id),
        ("actor", actor),
        ("action", action),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if event is not None:
        names = [event] if isinstance(event, str) else list(event)
        clauses.append(f"event IN ({', '.join('?' * len(names))})" if names else "1 = 0")
        params.extend(names)
    if since is not None:
        clauses.append("ts >= ?")
        params.append(_utc_text(since, what="since"))
    if until is not None:
        clauses.append("ts < ?")
        params.append(_utc_text(until, what="until"))
    return clauses, params


def _record(row: dict[str, Any]) -> dict[str, Any]:
    record = dict(row)
    for key in ("args", "detail"):
        if record[key] is not None:
            record[key] = json.loads(record[key])
    record["seq"] = int(record["seq"])
    return record


def _write_lines(stream: TextIO, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        stream.write(canonical_json(row) + "\n")
        count += 1
    return count


def _in_transaction(backend: Backend) -> bool:
    """Whether a transaction is open on the connection (its lock would stall a prefetch thread)."""
    flag = getattr(backend, "in_transaction", None)
    if flag is None:  # SQLiteBackend: ask the sqlite3 connection
        flag = getattr(getattr(backend, "conn", None), "in_transaction", False)
    return bool(flag)


def _batches(
    backend: Backend, sql: str, batch: int, after: int, *, threaded: bool
) -> Generator[dict[str, Any] | None, None, None]:
    """Aggregated batches after seq `after`, until an empty one, or None once a query fails.

    With `threaded`, a thread runs the next query (the GIL is free while the database works)
    while the caller checks the current batch; closing the generator stops the thread.
    """

    def fetch() -> Iterator[dict[str, Any] | None]:
        cursor = after
        while True:
            try:
                agg: dict[str, Any] | None = backend.execute(sql, (cursor, batch))[0]
            except Exception:  # noqa: BLE001 - e.g. a BLOB smuggled into a column; the reference path reports it
                agg = None
            yield agg
            if agg is None or not agg["n"]:
                return
            cursor = int(agg["hi"])

    if not threaded:
        yield from fetch()
        return
    slot: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def run() -> None:
        for agg in fetch():
            if stop.is_set():
                return
            slot.put(agg)

    thread = threading.Thread(target=run, name="hitl-audit-verify", daemon=True)
    thread.start()
    try:
        while True:
            agg = slot.get()
            yield agg
            if agg is None or not agg["n"]:
                return
    finally:
        stop.set()
        while thread.is_alive():  # free a pending put so the thread sees the stop flag
            with contextlib.suppress(queue.Empty):
                slot.get(timeout=0.05)
        thread.join()
