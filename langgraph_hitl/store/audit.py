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

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from .._canonical import canonical_json, iso
from ..errors import AuditIntegrityError
from ..types import AuditEvent
from ._db import Backend
from .audit_events import AUDIT_EVENTS, COLUMNS, GENESIS_HASH, HASHED, AuditEventError, prepare
from .audit_query import AuditQueries
from .audit_verify import ChainVerifier, VerifyResult, hexdigest

__all__ = ["AUDIT_EVENTS", "GENESIS_HASH", "AuditEventError", "AuditLog", "VerifyResult"]


class AuditLog(AuditQueries, ChainVerifier):
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
            self._digest_many = lambda items: map(hexdigest, map(hashlib.sha256, items))

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
                if not fresh:
                    return []
                # Ids just found absent under the chain's lock are still absent: not looked up twice.
                absent = {e.get("event_id") for e in fresh if isinstance(e, Mapping)}
                return self._write(admit(fresh), absent=absent)
        return self._write(events, absent=set())

    def _write(self, events: Sequence[AuditEvent], *, absent: set[Any]) -> list[int]:
        if not events:
            return []
        now = iso(self.clock())
        prepared = [prepare(event, index, now) for index, event in enumerate(events)]
        with self.backend.transaction():
            self.backend.lock_audit_chain()
            seqs = self._existing([p["event_id"] for p in prepared if p["event_id"] not in absent])
            last = self.backend.execute("SELECT seq, hash FROM hitl_audit ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(last[0]["seq"]), str(last[0]["hash"])) if last else (0, GENESIS_HASH)
            rows = []
            for p in prepared:
                if p["event_id"] in seqs:
                    continue
                seq += 1
                row = [seq, *(p[c] for c in HASHED[1:-1]), prev]
                prev = self._digest(canonical_json(row).encode("utf-8"))
                rows.append((*row, prev))
                seqs[p["event_id"]] = seq
            if rows:
                placeholders = ", ".join("?" * (len(HASHED) + 1))
                self.backend.executemany(f"INSERT INTO hitl_audit ({COLUMNS}) VALUES ({placeholders})", rows)
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
