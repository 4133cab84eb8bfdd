"""Signed checkpoints where old audit rows were pruned (`hitl_audit_cuts`, migration 5).

A cut records the chain's head at the last pruned row: its seq, its hash and its time, the
sha256 of the archive's manifest (the evidence export of the pruned rows, written first), and
`mac`, an HMAC-SHA256 over all of these with the store's seal key (the audit key when the store
is opened with one, else the random secret in `hitl_secret`). `verify()` starts from the last
cut: it checks the cut's signature and that the first remaining row links to its hash.

The database accepts a cut only when it names an existing row by its hash, below the newest row
(so the chain always has a row to continue from) and above the last cut; it lets DELETE through
only for rows at or below the last cut, and never changes or deletes a cut.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .._canonical import canonical_json
from ._db import Backend

__all__ = ["CUT_DOMAIN", "Cut", "cut_mac", "cuts", "last_cut"]

CUT_DOMAIN = "langgraph-hitl audit cut v1"
"""The first element of the signed text, so a cut's MAC is never valid as any other MAC."""


@dataclass(frozen=True)
class Cut:
    """One pruning checkpoint: rows up to `seq` were archived and deleted."""

    seq: int
    """The last pruned row's seq; the first remaining row is `seq + 1`."""
    head_hash: str
    """That row's hash: the first remaining row's `prev_hash` must equal it."""
    ts: str
    """That row's time (ISO 8601 UTC)."""
    created_at: str
    """When the prune ran (ISO 8601 UTC)."""
    archive_sha256: str
    """sha256 of the archive's `manifest.json` (the evidence export of the pruned rows)."""
    mac: str
    """HMAC-SHA256 of the fields above with the store's seal key."""

    def signed_text(self) -> bytes:
        """What the MAC covers: every field but the MAC, as canonical JSON."""
        fields = [CUT_DOMAIN, self.seq, self.head_hash, self.ts, self.created_at, self.archive_sha256]
        return canonical_json(fields).encode("utf-8")

    def authentic(self, key: bytes) -> bool:
        """True when `mac` was made with `key` over these very fields."""
        return isinstance(self.mac, str) and hmac.compare_digest(cut_mac(key, self), self.mac)


def cut_mac(key: bytes, cut: Cut) -> str:
    """The MAC `cut` must carry under `key` (its own `mac` field is ignored)."""
    return hmac.new(key, cut.signed_text(), hashlib.sha256).hexdigest()


_SELECT = "SELECT cut_seq, head_hash, cut_ts, created_at, archive_sha256, mac FROM hitl_audit_cuts"


def _cut(row: dict[str, object]) -> Cut:
    return Cut(
        seq=int(str(row["cut_seq"])),
        head_hash=str(row["head_hash"]),
        ts=str(row["cut_ts"]),
        created_at=str(row["created_at"]),
        archive_sha256=str(row["archive_sha256"]),
        mac=str(row["mac"]),
    )


def cuts(backend: Backend) -> list[Cut]:
    """Every recorded cut, oldest first (empty before the first prune or before migration 5)."""
    if not _has_cuts_table(backend):
        return []
    return [_cut(r) for r in backend.execute(f"{_SELECT} ORDER BY cut_seq")]


def last_cut(backend: Backend) -> Cut | None:
    """The newest cut, or None when the log was never pruned."""
    if not _has_cuts_table(backend):
        return None
    rows = backend.execute(f"{_SELECT} ORDER BY cut_seq DESC LIMIT 1")
    return _cut(rows[0]) if rows else None


def _has_cuts_table(backend: Backend) -> bool:
    """False on a database still below migration 5 (e.g. opened with setup=False)."""
    rows = backend.execute("SELECT MAX(version) AS v FROM hitl_schema_version")
    return bool(rows) and int(rows[0]["v"] or 0) >= 5
