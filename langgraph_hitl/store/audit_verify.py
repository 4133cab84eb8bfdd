"""Verifying the audit log's hash chain (G7): streamed in batches the database assembles, each
checked at C speed, with the row-by-row reference encoding deciding any batch in doubt."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from .._canonical import canonical_json
from ..errors import AuditIntegrityError
from ._db import Backend
from .audit_cuts import cuts
from .audit_events import COLUMNS, GENESIS_HASH, HASHED

__all__ = ["ChainVerifier", "VerifyResult", "hexdigest"]

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
        canon="json_array(" + ", ".join(HASHED) + ")",
        cat_hash="group_concat(hash, '')",
        cat_prev="group_concat(prev_hash, '')",
        cat_canon="CAST(group_concat(canon, char(10)) AS BLOB)",
    ),
    "postgres": _AGGREGATE.format(
        canon="'[' || seq::text || "
        + " || ".join(f"',' || COALESCE(to_json({c})::text, 'null')" for c in HASHED[1:])
        + " || ']'",
        cat_hash="string_agg(hash, '' ORDER BY seq)",
        cat_prev="string_agg(prev_hash, '' ORDER BY seq)",
        cat_canon="convert_to(string_agg(canon, chr(10) ORDER BY seq), 'UTF8')",
    ),
}
hexdigest = methodcaller("hexdigest")


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
    cut_seq: int = 0
    """Rows up to this seq were pruned (archived, `store.retention`); 0 when none were. The chain
    is verified from the signed checkpoint of that cut: `checked` counts the rows after it."""

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


class ChainVerifier:
    """`AuditLog.verify` and its parts (a mixin: `AuditLog` gives the backend and the digests)."""

    backend: Backend
    keyed_without_key: bool
    _keyed: bool
    _digest_many: Callable[[Iterator[bytes]], Iterator[str]]
    seal_key_source: Callable[[], bytes] | None = None
    """Returns the store's seal key, which signs pruning cuts (`Store` sets it)."""

    def _digest(self, data: bytes) -> str:
        return next(iter(self._digest_many(iter((data,)))))

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
        start = self._start()
        stray = None if isinstance(start, VerifyResult) else self._row_below(start[0])
        start = start if stray is None else stray  # (a failed VerifyResult is falsy: no `or`)
        result = start if isinstance(start, VerifyResult) else self._verify_chain(batch, *start)
        if result.ok and anchor is not None:
            result = self._check_anchor(result, anchor)
        return result.raise_for_status() if raise_on_error else result

    def _start(self) -> tuple[int, str] | VerifyResult:
        """Where the chain starts: `(1, GENESIS_HASH)`, or just after the last pruning cut once
        every cut's signature checks out (a failed result names the first cut that does not)."""
        recorded = cuts(self.backend)
        if not recorded:
            return 1, GENESIS_HASH
        key = self.seal_key_source() if self.seal_key_source is not None else None
        for cut in recorded:
            if key is None or not cut.authentic(key):
                why = "no seal key to check it with" if key is None else "its signature does not verify"
                reason = (
                    f"the pruning checkpoint at seq {cut.seq} cannot be trusted ({why}): a cut was forged "
                    "or written with another key; restore the rows from the archive or a backup"
                )
                return VerifyResult(
                    ok=False, checked=0, first_bad_seq=cut.seq + 1, reason=reason, cut_seq=cut.seq
                )
        return recorded[-1].seq + 1, recorded[-1].head_hash

    def _row_below(self, first: int) -> VerifyResult | None:
        """A failed result when a row sits below where the chain starts (a seq below 1, or at or
        below the last cut): `query()` would show it, yet no chain covers it, so it was inserted."""
        low = self.backend.execute("SELECT MIN(seq) AS s FROM hitl_audit")[0]["s"]
        if low is None or int(low) >= first:
            return None
        where = f"at or below the pruning checkpoint at seq {first - 1}" if first > 1 else "below seq 1"
        reason = f"row {low} lies {where}, outside the hash chain: it was inserted there (pruned rows are in their archive)"
        return VerifyResult(ok=False, checked=0, first_bad_seq=int(low), reason=reason, cut_seq=first - 1)

    def _verify_chain(self, batch: int, expect: int = 1, prev: str = GENESIS_HASH) -> VerifyResult:
        fast = _FAST_VERIFY.get(self.backend.name)
        raw = f"SELECT {COLUMNS} FROM hitl_audit WHERE seq > ? ORDER BY seq LIMIT ?"
        cut = expect - 1
        while True:
            if fast is not None:
                threaded = not self.backend.in_transaction
                with contextlib.closing(
                    _batches(self.backend, fast, batch, expect - 1, threaded=threaded)
                ) as aggs:
                    for agg in aggs:
                        if agg is None or not self._batch_verifies(agg, expect, prev):
                            break  # the reference path below decides this batch
                        if not agg["n"]:
                            return VerifyResult(
                                ok=True, checked=expect - 1 - cut, head_hash=prev, cut_seq=cut
                            )
                        expect, prev = expect + int(agg["n"]), agg["hashes"][-64:]
            rows = self.backend.execute(raw, (expect - 1, batch))
            if not rows:
                return VerifyResult(ok=True, checked=expect - 1 - cut, head_hash=prev, cut_seq=cut)
            for row in rows:
                reason = self._row_problem(row, expect, prev)
                if reason is not None:
                    if cut and expect == cut + 1:
                        reason += f" (the log was pruned through seq {cut}: row {expect} must link to that checkpoint)"
                    return VerifyResult(
                        ok=False,
                        checked=expect - 1 - cut,
                        first_bad_seq=expect,
                        reason=reason,
                        head_hash=prev,
                        cut_seq=cut,
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
            text = canonical_json([row[c] for c in HASHED])
        except (TypeError, ValueError):
            return f"row {seq} holds a value that is not text or a number: the row was edited"
        if not isinstance(row["hash"], str) or self._digest(text.encode("utf-8")) != row["hash"]:
            key = " (or the log was written with another hmac_key)" if self._keyed else ""
            return f"row {seq}'s contents do not match its hash: the row was edited{key}"
        return None

    def _check_anchor(self, result: VerifyResult, anchor: tuple[int, str]) -> VerifyResult:
        seq, expected = anchor
        if seq < 1 or seq < result.cut_seq:  # pruned rows are checked in their archive
            return result
        if seq == result.cut_seq:
            rows = [{"hash": cuts(self.backend)[-1].head_hash}]
        else:
            rows = self.backend.execute("SELECT hash FROM hitl_audit WHERE seq = ?", (seq,))
        last = result.cut_seq + result.checked
        if not rows:
            reason = (
                f"the log ends at seq {last} but the anchor names seq {seq}: rows were removed from the end"
            )
            return VerifyResult(
                ok=False,
                checked=result.checked,
                first_bad_seq=last + 1,
                reason=reason,
                head_hash=result.head_hash,
                cut_seq=result.cut_seq,
            )
        if rows[0]["hash"] != expected:
            reason = (
                f"row {seq}'s hash differs from the anchor's: the log was rewritten from there or earlier"
            )
            return VerifyResult(
                ok=False,
                checked=result.checked,
                first_bad_seq=seq,
                reason=reason,
                head_hash=result.head_hash,
                cut_seq=result.cut_seq,
            )
        return result


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
