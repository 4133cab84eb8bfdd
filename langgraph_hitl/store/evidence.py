"""Evidence an auditor accepts: one period of the audit log as a folder that checks itself.

`export_evidence(store, "evidence/2026-q1", since="2026-01-01", until="2026-04-01")` writes:

- `audit.jsonl`: every audit row of the period, oldest first, one JSON object a line with the
  columns exactly as stored (so each row hashes as the store hashed it; `args` and `detail`
  are the stored canonical JSON text), plus `kind` (request, decision, refusal, timeout,
  execution, halt, reversal, ...: `evidence_verifier.KINDS`) and `args_withheld`;
- `receipts.jsonl`: the approval receipts those rows hold (who approved which exact action);
- `lines.sha256`: the sha256 of each line of both files, so a bad line is named;
- `summary.md`: what each record kind evidences, with counts, the range and how to verify;
- `verify_evidence.py`: a standalone verifier (standard library only);
- `manifest.json`: the range (first and last seq, the `prev_hash` of the first row, which links
  the export to what came before, and the head hash), the counts, and every file's sha256;
  with a keyed log, `seal`, an HMAC of the manifest with the audit key.

The rows are a contiguous seq range, so the chain can be checked: from the first row at or after
`since` to the last row before `until` (a row inside whose own time is out of order is kept).

Personal data: `args="digest"` (the default) exports each row's arguments as `args_hash` only,
`"redacted"` keeps their shape (keys and list lengths) with every value replaced, `"stored"`
exports them as stored. A row with withheld arguments cannot be re-hashed; the verifier checks
its place in the chain (its neighbours name its hash) and its line digest. Export with
`args="stored"` for a row-by-row recomputation of every hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._canonical import canonical_json, now_iso
from ..errors import AuditIntegrityError
from .audit_cuts import last_cut
from .audit_events import COLUMNS, GENESIS_HASH, utc_text
from .evidence_verifier import FORMAT, HASHED, JSONL, KINDS, kind_of, manifest_mac, sha256_file

if TYPE_CHECKING:
    from . import Store

__all__ = ["ARGS_MODES", "KIND_MEANING", "ArgsMode", "EvidenceExport", "export_evidence"]

ArgsMode = Literal["stored", "redacted", "digest"]
ARGS_MODES: tuple[ArgsMode, ...] = ("digest", "redacted", "stored")
"""How an export carries the actions' arguments (personal data, often): the first is the default."""

KIND_MEANING = {
    "request": "An action was proposed and put to review, or reviewers were notified: what was asked, of whom, when.",
    "decision": "Who authorised (approved, edited), rejected or answered which exact action, and when; "
    "`auto_approved`: the policy let a low-risk action through.",
    "refusal": "What was refused: an answer not accepted (wrong phrase, not an approver, stale, halted) "
    "or an action the policy denies.",
    "timeout": "What timed out: nobody decided in time, and what followed (rejected, approved on a soft "
    "gate, or escalated).",
    "execution": "What ran after approval, and whether it succeeded.",
    "halt": "When the stop switch was thrown and released, and by whom.",
    "reversal": "What was reversed (compensated) after it ran, and whether the reversal worked.",
    "cancellation": "Reviews that ended without a decision (the thread moved on).",
    "feedback": "Reviewers' scores of runs.",
    "shadow": "Where a candidate policy, run in shadow, would have decided differently (or failed).",
    "other": "Events of kinds this export does not name.",
}
"""What each record kind evidences (the summary's table)."""

_PAGE = 2_000


@dataclass(frozen=True)
class EvidenceExport:
    """What `export_evidence` wrote."""

    folder: Path
    first_seq: int
    """The first exported row's seq (the row the next append would get when `rows` is 0)."""
    last_seq: int
    """The last exported row's seq (`first_seq - 1` when `rows` is 0)."""
    prev_hash: str
    """The hash of the row before `first_seq` (64 zeros at the start of the log)."""
    head_hash: str
    """The last exported row's hash (`prev_hash` when `rows` is 0)."""
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    """Rows per record kind."""
    manifest_sha256: str = ""
    """sha256 of `manifest.json`: keep it (or the head hash) to recognise the folder later."""


def export_evidence(
    store: Store,
    out: str | Path,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    first_seq: int | None = None,
    last_seq: int | None = None,
    args: ArgsMode = "digest",
) -> EvidenceExport:
    """Write the audit rows of a period, and what proves them, into the new folder `out`.

    Args:
        store: The open store.
        out: A folder that does not exist yet, or an empty one.
        since: From the first row at or after this time (ISO 8601 or a datetime; naive is UTC).
        until: Up to the last row before this time.
        first_seq: Instead of `since`: from this seq (retention exports the pruned range so).
        last_seq: Instead of `until`: up to this seq.
        args: "digest" (default), "redacted" or "stored": see the module docstring.

    Returns:
        An `EvidenceExport` naming the range, the head hash and the manifest's sha256.

    Raises:
        ValueError: A bad time, mode or range, or `out` is a file or a folder with files in it.
        AuditIntegrityError: A row to export does not verify (or the log is keyed and the store
            was opened without its key); the folder is left incomplete, without a manifest.
    """
    if args not in ARGS_MODES:
        msg = f"args={args!r} is not an export mode; use one of {', '.join(ARGS_MODES)}."
        raise ValueError(msg)
    if store.audit.keyed_without_key:
        msg = (
            "This audit log is keyed and the store was opened without its key, so its rows cannot be checked "
            "before they are exported: open it with hmac_key=... or set LANGGRAPH_HITL_AUDIT_KEY."
        )
        raise AuditIntegrityError(msg)
    first, last, prev = _resolve_range(store, since, until, first_seq, last_seq)
    folder = _new_folder(out)
    head, rows, counts = _write_rows(store, folder, first, last, prev, args)
    result = EvidenceExport(folder, first, first + rows - 1, prev, head, rows, counts)
    manifest = _manifest(store, result, since, until, args)
    (folder / "summary.md").write_text(_summary(manifest), encoding="utf-8", newline="\n")
    verifier = Path(__file__).with_name("evidence_verifier.py").read_text(encoding="utf-8")
    (folder / "verify_evidence.py").write_text(verifier, encoding="utf-8", newline="\n")
    manifest["files"] = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(folder.iterdir())
    }
    key = store.seal_key if store._hmac_key else None  # a keyed log's manifest is sealed with its key
    if key is not None:
        manifest["seal"] = manifest_mac(key, manifest)
    (folder / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return EvidenceExport(
        folder, first, first + rows - 1, prev, head, rows, counts, sha256_file(folder / "manifest.json")
    )


def _write_rows(
    store: Store, folder: Path, first: int, last: int, prev: str, args: ArgsMode
) -> tuple[str, int, dict[str, int]]:
    """Write `audit.jsonl`, `receipts.jsonl` and `lines.sha256`; the head hash, rows and counts."""
    digests: dict[str, list[str]] = {name: [] for name in JSONL}
    counts: dict[str, int] = {}
    head, rows = prev, 0
    with (folder / "audit.jsonl").open("wb") as audit, (folder / "receipts.jsonl").open("wb") as receipts:
        for row in _rows(store, first, last):
            _vouch(store, row, first + rows, head)
            line = _audit_line(row, args)
            audit.write(line)
            digests["audit.jsonl"].append(hashlib.sha256(line[:-1]).hexdigest())
            counts[kind_of(row["event"])] = counts.get(kind_of(row["event"]), 0) + 1
            receipt = _receipt_line(row)
            if receipt is not None:
                receipts.write(receipt)
                digests["receipts.jsonl"].append(hashlib.sha256(receipt[:-1]).hexdigest())
            head, rows = str(row["hash"]), rows + 1
    if rows != last - first + 1:
        msg = f"Audit rows {first + rows}..{last} went missing while they were exported; export again."
        raise AuditIntegrityError(msg, seq=first + rows)
    with (folder / "lines.sha256").open("wb") as listing:
        for name in JSONL:
            for number, digest in enumerate(digests[name], 1):
                listing.write(f"{digest}  {name}:{number}\n".encode())
    return head, rows, counts


def _vouch(store: Store, row: dict[str, Any], seq: int, prev: str) -> None:
    """Refuse to export a row the store's own verification would fail: the export vouches for
    every row it writes, also for those whose arguments it withholds (which no one can re-hash later)."""
    problem = None
    if row["seq"] != seq or row["prev_hash"] != prev:
        problem = f"row {seq} is missing or does not link to the row before it"
    elif store.audit._digest(canonical_json([row[c] for c in HASHED]).encode("utf-8")) != row["hash"]:
        problem = f"row {seq}'s contents do not match its hash"
    if problem is not None:
        msg = f"Audit {problem}: the log does not verify, so it is not exported (`langgraph-hitl audit --verify`)."
        raise AuditIntegrityError(msg, seq=seq)


def _new_folder(out: str | Path) -> Path:
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        msg = f"{str(folder)!r} exists and is not an empty folder; export evidence into a new folder."
        raise ValueError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _resolve_range(
    store: Store,
    since: str | datetime | None,
    until: str | datetime | None,
    first_seq: int | None,
    last_seq: int | None,
) -> tuple[int, int, str]:
    """The contiguous seq range `[first, last]` to export and the hash of the row before it."""
    if since is not None and first_seq is not None or until is not None and last_seq is not None:
        msg = "Give a time (since/until) or a seq (first_seq/last_seq) for each end of the range, not both."
        raise ValueError(msg)
    db = store.backend
    cut = last_cut(db)
    low = cut.seq + 1 if cut else 1
    top = store.audit.head()[0]
    first = low if first_seq is None else first_seq
    if since is not None:
        if cut is not None and utc_text(since, what="since") <= cut.ts:
            msg = (
                f"Rows up to {cut.ts} (seq {cut.seq}) were pruned into an archive (manifest sha256 "
                f"{cut.archive_sha256[:16]}...): hand over that archive, and export from after {cut.ts}."
            )
            raise ValueError(msg)
        found = db.execute(
            "SELECT MIN(seq) AS s FROM hitl_audit WHERE ts >= ?", (utc_text(since, what="since"),)
        )
        first = int(found[0]["s"]) if found[0]["s"] is not None else top + 1
    last = top if last_seq is None else last_seq
    if until is not None:
        found = db.execute(
            "SELECT MAX(seq) AS s FROM hitl_audit WHERE ts < ?", (utc_text(until, what="until"),)
        )
        last = int(found[0]["s"]) if found[0]["s"] is not None else 0
    if first < low or first > top + 1:
        pruned = f" (rows up to seq {low - 1} were pruned: see their archive)" if cut else ""
        msg = f"The range starts at seq {first}, outside the log's rows {low}..{top}{pruned}."
        raise ValueError(msg)
    last = min(last, top)
    last = max(last, first - 1)
    if first - 1 == 0:
        return first, last, GENESIS_HASH
    if cut is not None and first - 1 == cut.seq:
        return first, last, cut.head_hash
    before = db.execute("SELECT hash FROM hitl_audit WHERE seq = ?", (first - 1,))
    return first, last, str(before[0]["hash"])


def _rows(store: Store, first: int, last: int) -> Iterator[dict[str, Any]]:
    """The stored rows `first..last`, as stored (no parsing), paged by seq."""
    cursor = first - 1
    while cursor < last:
        page = store.backend.execute(
            f"SELECT {COLUMNS} FROM hitl_audit WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (cursor, last, _PAGE),
        )
        if not page:
            return
        for row in page:
            row["seq"] = int(row["seq"])
            yield row
        cursor = page[-1]["seq"]


def _audit_line(row: dict[str, Any], mode: ArgsMode) -> bytes:
    line = {c: row[c] for c in HASHED}
    line["hash"], line["kind"], line["args_withheld"] = row["hash"], kind_of(row["event"]), None
    if row["args"] is not None and mode != "stored":
        line["args_withheld"] = mode
        line["args"] = None if mode == "digest" else canonical_json(_redact(json.loads(row["args"])))
    return (canonical_json(line) + "\n").encode("utf-8")


def _redact(value: Any) -> Any:
    """The shape of `value` (object keys, list lengths) with every value replaced."""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return "[redacted]"


def _receipt_line(row: dict[str, Any]) -> bytes | None:
    if not isinstance(row["detail"], str) or '"receipt"' not in row["detail"]:
        return None
    detail = json.loads(row["detail"])
    receipt = detail.get("receipt") if isinstance(detail, dict) else None
    if receipt is None:
        return None
    line = {"seq": row["seq"], "event_id": row["event_id"], "receipt": receipt}
    return (canonical_json(line) + "\n").encode("utf-8")


def _manifest(
    store: Store, result: EvidenceExport, since: object, until: object, args: ArgsMode
) -> dict[str, Any]:
    cut = last_cut(store.backend)
    head_seq, head_hash = store.audit.head()
    return {
        "format": FORMAT,
        "created_at": now_iso(),
        "args": args,
        "keyed": bool(store._hmac_key) or store.audit.keyed_without_key,
        "period": {
            "since": None if since is None else utc_text(since, what="since"),
            "until": None if until is None else utc_text(until, what="until"),
        },
        "range": {
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "rows": result.rows,
            "prev_hash": result.prev_hash,
            "head_hash": result.head_hash,
        },
        "after_cut": None
        if cut is None or cut.seq != result.first_seq - 1
        else {"seq": cut.seq, "head_hash": cut.head_hash, "archive_sha256": cut.archive_sha256},
        "store_head": {"seq": head_seq, "hash": head_hash},
        "counts": dict(sorted(result.counts.items())),
    }


def _summary(manifest: dict[str, Any]) -> str:
    rng, counts = manifest["range"], manifest["counts"]
    events: dict[str, list[str]] = {}
    for event, kind in KINDS.items():
        events.setdefault(kind, []).append(f"`{event}`")
    table = "\n".join(
        f"| {kind} | {', '.join(events.get(kind, ['(any other)']))} | {counts.get(kind, 0)} | {meaning} |"
        for kind, meaning in KIND_MEANING.items()
    )
    args = {
        "stored": "as stored",
        "redacted": "redacted: keys and list lengths kept, every value replaced; `args_hash` kept",
        "digest": "as digests only (`args_hash`, the sha256 of the canonical JSON of the arguments)",
    }[manifest["args"]]
    period, cut = manifest["period"], manifest["after_cut"]
    start = "(start of the log)" if cut is None else f"(the pruning checkpoint at seq {cut['seq']})"
    pruned = (
        ""
        if cut is None
        else f"- Rows up to seq {cut['seq']} were pruned: they are in the archive whose `manifest.json` "
        f"has sha256 {cut['archive_sha256']}, not here\n"
    )
    return f"""# Audit evidence

Audit rows seq {rng["first_seq"]} to {rng["last_seq"]} ({rng["rows"]} rows), period
{period["since"] or start} to {period["until"] or "(export time)"}, exported {manifest["created_at"]}.

{pruned}- Linked to what came before by `prev_hash` {rng["prev_hash"]}
- Head hash (the last row's) {rng["head_hash"]}
- The store's head when exported: seq {manifest["store_head"]["seq"]}, {manifest["store_head"]["hash"]}
- Arguments: {args}.

| Kind | Audit events | Rows | What it evidences |
|---|---|---|---|
{table}

`receipts.jsonl` lists each approval receipt (who approved which exact action, by its digest)
with the seq of the audit row that holds it.

## Verify

    python verify_evidence.py .

It needs only Python 3.10+. It checks each file's sha256 against `manifest.json`, each line's
against `lines.sha256`, and the hash chain of `audit.jsonl`; with a keyed log, pass the key
(`--key-file PATH`, or LANGGRAPH_HITL_AUDIT_KEY) to recompute the HMACs and check the
manifest's seal. Then compare the head hash with the store's (`langgraph-hitl audit --verify`)
or an anchor you kept elsewhere.
"""
