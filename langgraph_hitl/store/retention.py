"""Retention: archive and prune old audit rows without breaking verification of what remains.

`prune(store, before="2025-01-01", archive="archive/2024")`:

1. verifies the whole log (a log that does not verify is never archived and cut);
2. picks the cut: the last row before the first row at or after `before` (rows are cut by
   seq, so a row is never pruned while an earlier-seq row is kept), always keeping the newest
   row so the chain goes on from it;
3. refuses while a thread with rows in the range still waits for a decision or runs (its
   events would be written again when it goes on), unless `force`;
4. writes the evidence export of the pruned rows into `archive` (`store.evidence`; arguments
   as stored by default, since an archive is your own) and verifies it;
5. in one transaction: records the cut (`store.audit_cuts`: the head at the cut, the archive
   manifest's sha256, signed with the store's seal key) and deletes the rows up to the cut.

The database lets DELETE through only for rows at or below a recorded cut (migration 5), and
`verify()` then starts from the cut: it checks the cut's signature and that the first
remaining row's `prev_hash` is the checkpointed head, and reports `cut_seq`. The archive
verifies on its own (`python archive/verify_evidence.py archive`), and its head hash is the
cut's, so the archive and the remaining log form one chain.

The signature is made with the audit key when the store is opened with one (kept outside the
database: nobody with only database access can forge a cut), else with the random seal key in
`hitl_secret` (which catches a cut written by anyone who cannot read that table).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .._canonical import now_iso
from ..errors import AuditIntegrityError, HITLError
from .audit_cuts import Cut, cut_mac, last_cut
from .audit_events import utc_text
from .evidence import ArgsMode, export_evidence
from .evidence_verifier import verify as verify_folder

if TYPE_CHECKING:
    from . import Store

__all__ = ["PruneError", "PrunePlan", "PruneReport", "plan_prune", "prune"]


class PruneError(HITLError, ValueError):
    """The audit log cannot be pruned as asked; the message names why and what to do."""


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would remove: rows `first_seq..cut_seq` (none when `rows` is 0)."""

    first_seq: int
    cut_seq: int
    rows: int
    open_threads: tuple[str, ...] = ()
    """Threads with rows in the range that still wait for a decision or run."""


@dataclass(frozen=True)
class PruneReport:
    """What `prune` did."""

    cut: Cut | None
    """The recorded cut, None when there was nothing to prune."""
    rows: int
    """Rows archived and deleted."""
    archive: Path | None
    """The evidence folder of the pruned rows."""


def plan_prune(store: Store, *, before: str | datetime) -> PrunePlan:
    """The rows `prune(before=...)` would remove, and the threads that would block it."""
    db = store.backend
    cut = last_cut(db)
    low = cut.seq + 1 if cut else 1
    top = store.audit.head()[0]
    found = db.execute(
        "SELECT MIN(seq) AS s FROM hitl_audit WHERE ts >= ?", (utc_text(before, what="before"),)
    )
    first_kept = int(found[0]["s"]) if found[0]["s"] is not None else top + 1
    cut_seq = min(first_kept - 1, top - 1)  # the newest row stays: the chain goes on from it
    if cut_seq < low:
        return PrunePlan(low, low - 1, 0)
    rows = db.execute(
        "SELECT DISTINCT thread_id FROM hitl_audit WHERE seq >= ? AND seq <= ? AND thread_id IN "
        "(SELECT thread_id FROM hitl_requests WHERE status IN ('pending', 'deciding') "
        "UNION SELECT thread_id FROM hitl_threads WHERE state = 'in_flight') ORDER BY thread_id LIMIT 5",
        (low, cut_seq),
    )
    return PrunePlan(low, cut_seq, cut_seq - low + 1, tuple(str(r["thread_id"]) for r in rows))


def prune(
    store: Store,
    *,
    before: str | datetime,
    archive: str | Path,
    args: ArgsMode = "stored",
    force: bool = False,
) -> PruneReport:
    """Archive the audit rows before `before` into the new folder `archive`, then delete them.

    Args:
        store: The open store (with its audit key, if the log is keyed).
        before: Prune rows before the first row at or after this time (ISO 8601 or a datetime).
        archive: A new (or empty) folder for the evidence export of the pruned rows.
        args: How the archive carries arguments: "stored" (default), "redacted" or "digest".
        force: Prune even when threads with rows in the range still wait or run.

    Returns:
        A `PruneReport`: the cut, the rows removed, the archive.

    Raises:
        PruneError: The log does not verify, a thread in the range is still open, the archive
            does not verify. Nothing was deleted.
        AuditIntegrityError: The last row to prune changed while it was archived; nothing was deleted.
    """
    result = store.audit.verify()
    if not result.ok:
        msg = f"The audit log does not verify (seq {result.first_bad_seq}: {result.reason}); nothing was pruned."
        raise PruneError(msg)
    plan = plan_prune(store, before=before)
    if not plan.rows:
        return PruneReport(None, 0, None)
    if plan.open_threads and not force:
        msg = (
            f"Threads {', '.join(map(repr, plan.open_threads))} have rows up to seq {plan.cut_seq} and still "
            "wait for a decision or run; their events would be written again when they go on. Decide or "
            "end them first, prune before an earlier time, or pass force=True (--force)."
        )
        raise PruneError(msg)
    exported = export_evidence(store, archive, first_seq=plan.first_seq, last_seq=plan.cut_seq, args=args)
    check = verify_folder(exported.folder, key=store._hmac_key)
    if check.problems or exported.rows != plan.rows:
        msg = f"The archive in {str(exported.folder)!r} does not verify ({check.problems[:3]}); nothing was pruned."
        raise PruneError(msg)
    ts = store.backend.execute("SELECT ts FROM hitl_audit WHERE seq = ?", (plan.cut_seq,))[0]["ts"]
    unsigned = Cut(plan.cut_seq, exported.head_hash, str(ts), now_iso(), exported.manifest_sha256, "")
    cut = replace(unsigned, mac=cut_mac(store.seal_key, unsigned))
    with store.transaction():
        store.backend.lock_audit_chain()
        same = store.backend.execute("SELECT hash FROM hitl_audit WHERE seq = ?", (cut.seq,))
        if not same or same[0]["hash"] != cut.head_hash:
            msg = f"Audit row {cut.seq} changed while it was archived; nothing was pruned."
            raise AuditIntegrityError(msg, seq=cut.seq)
        store.backend.execute(
            "INSERT INTO hitl_audit_cuts (cut_seq, head_hash, cut_ts, created_at, archive_sha256, mac) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (cut.seq, cut.head_hash, cut.ts, cut.created_at, cut.archive_sha256, cut.mac),
        )
        store.backend.execute("DELETE FROM hitl_audit WHERE seq <= ?", (cut.seq,))
    return PruneReport(cut, plan.rows, exported.folder)
