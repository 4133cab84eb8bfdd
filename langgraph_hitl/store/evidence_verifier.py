"""Verify an evidence folder written by `langgraph-hitl evidence` (standard library only).

Run it as `python DIR/verify_evidence.py DIR` (the exporter writes this file's source there),
on any machine with Python 3.10+, without langgraph-hitl installed. It checks:

- every file against the sha256 in `manifest.json`, and that no file was added;
- every line of `audit.jsonl` and `receipts.jsonl` against its own sha256 in `lines.sha256`,
  so an edited, dropped or moved line is named by file and line;
- the hash chain of the exported audit rows, with the hashing the store uses: each row's
  `prev_hash` is the hash of the row before it (the first row's, the manifest's `prev_hash`:
  the export links to what came before it), seqs are contiguous, the last hash is the head
  hash; and each complete row hashes to its `hash`: sha256 of the canonical JSON of its
  columns, or HMAC-SHA256 with the audit key for a keyed log (`--key-file`, or the environment
  variable LANGGRAPH_HITL_AUDIT_KEY);
- that each row's `kind` is its event's, the manifest's counts are the rows', and every
  receipt in `receipts.jsonl` is the one its audit row holds (and none is missing).

A row exported with its arguments withheld (`--args digest` or `redacted`) keeps `args_hash`,
the sha256 of the arguments, but its own hash cannot be recomputed without them: the verifier
checks its place in the chain (the rows around it name its hash) and its line digest, and
counts it as "linked". `--strict` fails unless every row's hash was recomputed.

The chain proves the rows are the ones the store holds when the head hash matches a head you
trust: the store's (`langgraph-hitl audit --verify`) or an anchor kept outside the database.

Exit status: 0 verified, 1 not verified (each problem printed with file and line), 2 usage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = "langgraph-hitl-evidence/1"
"""The folder layout this verifier reads (`manifest.json`'s `format`)."""
HASHED = (
    "seq", "event_id", "ts", "thread_id", "request_id", "action_id", "event", "actor", "action", "args",
    "args_hash", "reversibility", "risk", "decision", "outcome", "policy_version", "detail", "prev_hash",
)  # fmt: skip
"""The columns a row's hash covers, in order (the store's `audit_events.HASHED`)."""
LINE_KEYS = frozenset((*HASHED, "hash", "kind", "args_withheld"))
"""The keys of one `audit.jsonl` line."""
KINDS = {
    "proposed": "request", "notified": "request",
    "auto_approved": "decision", "approved": "decision", "edited": "decision", "rejected": "decision",
    "responded": "decision", "revision_requested": "decision",
    "refused": "refusal", "denied": "refusal",
    "timed_out": "timeout", "escalated": "timeout",
    "executed": "execution", "failed": "execution",
    "halted": "halt", "unhalted": "halt",
    "reversal_requested": "reversal", "reversed": "reversal", "reversal_failed": "reversal",
    "cancelled": "cancellation", "feedback": "feedback", "shadow_differs": "shadow", "shadow_error": "shadow",
}  # fmt: skip
"""Each audit event's record kind; an event not named here is of kind `other`."""
JSONL = ("audit.jsonl", "receipts.jsonl")
"""The files whose every line has a digest in `lines.sha256`."""
KEY_ENV = "LANGGRAPH_HITL_AUDIT_KEY"
MAX_SHOWN = 25


def kind_of(event: object) -> str:
    """The record kind of an audit event name."""
    return KINDS.get(event, "other") if isinstance(event, str) else "other"


def canonical(value: Any) -> str:
    """The store's canonical JSON: sorted keys, no spaces, UTF-8 kept, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


SEAL_DOMAIN = "langgraph-hitl evidence manifest v1"
"""The first element of the sealed text: the audit key also seals other objects (events, receipts),
and none of those seals may ever pass for a manifest's."""


def manifest_mac(key: bytes, manifest: dict[str, Any]) -> str:
    """HMAC-SHA256 of `[SEAL_DOMAIN, the manifest without its seal]` (present when the log is keyed)."""
    body = {k: v for k, v in manifest.items() if k != "seal"}
    return hmac.new(key, canonical([SEAL_DOMAIN, body]).encode("utf-8"), hashlib.sha256).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown(text: str) -> str:
    """`text` with every unprintable character escaped: a name or value from the folder must not
    bring terminal control sequences or line breaks (a fake "VERIFIED" line) into the report."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _written_as(raw: bytes, value: object) -> bool:
    """True when `raw` is exactly the exporter's line for `value` (its canonical JSON): a line
    that parses to the same value but is written otherwise (a BOM, a CR, spaces, a key twice,
    NaN) is not what the store exported."""
    try:
        return canonical(value).encode("utf-8") == raw
    except (ValueError, TypeError, RecursionError):
        return False


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class Check:
    """One verification run over a folder: the problems found and what was counted."""

    def __init__(self, folder: Path, key: bytes | None) -> None:
        self.folder = folder
        self.key = key
        self.problems: list[str] = []
        self.recomputed = 0
        self.linked = 0
        self.counts: dict[str, int] = {}
        self.receipts: dict[int, tuple[Any, Any]] = {}
        """seq -> (event_id, receipt) of each audit row holding a receipt."""

    def bad(self, where: str, what: str) -> None:
        self.problems.append(_shown(f"{where}: {what}"))

    def lines(self, name: str) -> list[bytes]:
        path = self.folder / name
        if path.is_symlink() or not path.is_file():
            return []  # `files` names it
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            last = data.count(b"\n") + 1
            self.bad(f"{name} line {last}", "the last line has no newline (the file was cut short)")
        return data.split(b"\n")[:-1] if data else []

    def files(self, manifest: dict[str, Any]) -> None:
        """Every listed file exists with its sha256; nothing unlisted was added."""
        listed = manifest.get("files")
        if not isinstance(listed, dict) or not listed:
            self.bad("manifest.json", "no 'files' table of sha256 digests")
            return
        for name in sorted(set(listed) | {"audit.jsonl", "lines.sha256", "receipts.jsonl"}):
            entry, path = listed.get(name), self.folder / name
            if not isinstance(entry, dict) or not _is_hex64(entry.get("sha256")):
                self.bad("manifest.json", f"no sha256 for {name}")
            elif "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
                self.bad(name, "listed in the manifest but missing")
            elif path.is_symlink():  # it could name a file that never ends, e.g. /proc/kmsg
                self.bad(name, "a symbolic link, not a file (an export holds only regular files)")
            elif sha256_file(path) != entry["sha256"]:
                self.bad(name, f"sha256 {sha256_file(path)} differs from the manifest's {entry['sha256']}")
        for path in sorted(self.folder.iterdir()):
            if path.name not in listed and path.name != "manifest.json" and not path.name.startswith("."):
                self.bad(path.name, "not listed in the manifest (a file was added)")

    def line_digests(self) -> None:
        """Each JSONL line against its own digest, so a bad line is named."""
        expected: dict[str, list[tuple[str, int]]] = {name: [] for name in JSONL}
        for number, raw in enumerate(self.lines("lines.sha256"), 1):
            digest, _, where = raw.decode("utf-8", "replace").partition("  ")
            name, _, line = where.rpartition(":")
            if name not in expected or not _is_hex64(digest) or line != str(len(expected[name]) + 1):
                self.bad(
                    f"lines.sha256 line {number}",
                    "malformed or out of order (expected '<sha256>  FILE:LINE')",
                )
                return
            expected[name].append((digest, number))
        for name, digests in expected.items():
            lines = self.lines(name)
            for number, raw in enumerate(lines, 1):
                if number > len(digests):
                    self.bad(f"{name} line {number}", "has no digest in lines.sha256 (a line was added)")
                    break
                digest, at = digests[number - 1]
                if hashlib.sha256(raw).hexdigest() != digest:
                    why = f"does not match its digest on lines.sha256 line {at} (one was edited, dropped or moved)"
                    self.bad(f"{name} line {number}", why)
            if len(lines) < len(digests):
                self.bad(f"{name} line {len(lines) + 1}", f"missing: lines.sha256 lists {len(digests)} lines")

    def row_hash(self, row: dict[str, Any]) -> str:
        text = canonical([row[c] for c in HASHED]).encode("utf-8")
        if self.key is not None:
            return hmac.new(self.key, text, hashlib.sha256).hexdigest()
        return hashlib.sha256(text).hexdigest()

    def row(self, where: str, row: dict[str, Any], mode: str, *, keyed: bool) -> None:
        """One audit row's own fields: kind, withheld args, and its hash when it can be recomputed."""
        if row["kind"] != kind_of(row["event"]):
            self.bad(
                where, f"kind {row['kind']!r} but event {row['event']!r} is of kind {kind_of(row['event'])!r}"
            )
        self.counts[row["kind"]] = self.counts.get(row["kind"], 0) + 1
        withheld = row["args_withheld"]
        if withheld is None:
            if keyed and self.key is None:
                self.linked += 1
            elif self.row_hash(row) == row["hash"]:
                self.recomputed += 1
            else:
                self.bad(
                    where, "the row does not hash to its 'hash' (the row was edited, or the key is wrong)"
                )
        elif withheld != mode or mode == "stored" or not _is_hex64(row["args_hash"]):
            self.bad(where, f"args withheld as {withheld!r} in an export made with --args {mode}")
        elif withheld == "digest" and row["args"] is not None:
            self.bad(where, "args withheld as a digest, yet the line holds args")
        else:
            self.linked += 1
        if isinstance(row["detail"], str):
            try:
                receipt = json.loads(row["detail"]).get("receipt")
            except (ValueError, AttributeError, RecursionError):
                receipt = None
            if receipt is not None:
                self.receipts[row["seq"]] = (row["event_id"], receipt)

    def chain(self, manifest: dict[str, Any]) -> None:
        """The exported rows: contiguous seqs, each linked to the one before, ending at the head."""
        rng, mode = manifest.get("range") or {}, manifest.get("args")
        first, prev = rng.get("first_seq"), rng.get("prev_hash")
        if not isinstance(first, int) or not _is_hex64(prev) or mode not in ("stored", "redacted", "digest"):
            self.bad("manifest.json", "range.first_seq, range.prev_hash or args is missing or malformed")
            return
        keyed = manifest.get("keyed") is True
        cut = manifest.get("after_cut")  # the pruning checkpoint the range follows, if any
        if cut is not None and (not isinstance(cut, dict) or [cut.get("seq"), cut.get("head_hash")] != [first - 1, prev]):  # fmt: skip
            self.bad("manifest.json", "after_cut does not name range.first_seq - 1 and range.prev_hash")
        count = 0
        for number, raw in enumerate(self.lines("audit.jsonl"), 1):
            where = f"audit.jsonl line {number}"
            try:
                row = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                self.bad(where, f"not JSON ({exc})")
                return
            if not isinstance(row, dict) or set(row) != LINE_KEYS:
                self.bad(where, f"not an audit row (keys must be exactly {sorted(LINE_KEYS)})")
                return
            if not _written_as(raw, row):
                self.bad(where, "not written as the exporter writes a line (canonical JSON: no BOM, CR, spaces or repeated keys)")  # fmt: skip
                return
            if row["seq"] != first + number - 1:
                self.bad(where, f"seq {row['seq']!r} where {first + number - 1} was expected (a row was dropped, added or moved)")  # fmt: skip
                return
            if row["prev_hash"] != prev or not _is_hex64(row["hash"]):
                self.bad(
                    where, "its prev_hash is not the previous row's hash (a row was dropped, added or moved)"
                )
                return
            try:
                self.row(where, row, mode, keyed=keyed)
            except (TypeError, ValueError, AttributeError, RecursionError) as exc:  # values no export writes
                self.bad(where, f"malformed values ({exc})")
                return
            prev, count = row["hash"], count + 1
        if count != rng.get("rows") or rng.get("last_seq") != first + count - 1:
            self.bad("audit.jsonl", f"{count} rows, but the manifest's range says {rng.get('rows')!r} to seq {rng.get('last_seq')!r}")  # fmt: skip
        if prev != rng.get("head_hash"):
            self.bad(
                "audit.jsonl",
                f"the last row's hash {prev} is not the manifest's head_hash {rng.get('head_hash')}",
            )
        if self.counts != {k: v for k, v in (manifest.get("counts") or {}).items() if v}:
            self.bad("manifest.json", f"counts {manifest.get('counts')} differ from the rows' {self.counts}")

    def receipt_lines(self) -> None:
        """`receipts.jsonl` lists exactly the receipts the audit rows hold, in seq order."""
        seen: list[int] = []
        for number, raw in enumerate(self.lines("receipts.jsonl"), 1):
            where = f"receipts.jsonl line {number}"
            try:
                line = json.loads(raw)
                seq = line["seq"]
                held = self.receipts.get(seq)
            except (ValueError, KeyError, TypeError, RecursionError):
                self.bad(where, "not a receipt line ({'seq': ..., 'event_id': ..., 'receipt': {...}})")
                return
            expected = None if held is None else {"seq": seq, "event_id": held[0], "receipt": held[1]}
            if line != expected or not _written_as(raw, line) or (seen and seq <= seen[-1]):
                self.bad(where, f"the receipt is not the one audit row seq {seq!r} holds, or out of order")
                return
            seen.append(seq)
        missing = sorted(set(self.receipts) - set(seen))
        if missing:
            self.bad("receipts.jsonl", f"misses the receipts of audit rows {missing[:10]}")


def _sealed(manifest: dict[str, Any], key: bytes) -> bool:
    """True when the manifest says it is a keyed log's and carries its seal under `key`."""
    try:
        expected = manifest_mac(key, manifest)
    except (ValueError, TypeError, RecursionError):
        return False
    seal = manifest.get("seal")
    return manifest.get("keyed") is True and isinstance(seal, str) and hmac.compare_digest(seal, expected)


def verify(folder: str | Path, *, key: bytes | None = None, strict: bool = False) -> Check:
    """Check the evidence in `folder`; `Check.problems` is empty when it verifies."""
    check = Check(Path(folder), key)
    try:
        if (check.folder / "manifest.json").is_symlink():
            msg = "a symbolic link, not a file"
            raise OSError(msg)
        manifest = json.loads((check.folder / "manifest.json").read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        check.bad("manifest.json", f"cannot be read as JSON ({exc})")
        return check
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        check.bad("manifest.json", f"not a {FORMAT} manifest")
        return check
    if key is not None and not _sealed(manifest, key):  # a keyed log's export is always sealed
        check.bad(
            "manifest.json",
            "its seal does not verify with this key (the manifest was edited or its seal removed, or wrong key; "
            "an unkeyed log's export is verified without a key)",
        )
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("manifest.json", lambda: check.files(manifest)),
        ("lines.sha256", check.line_digests),
        ("audit.jsonl", lambda: check.chain(manifest)),
        ("receipts.jsonl", check.receipt_lines),
    )
    # A field of the wrong type, JSON nested too deep, a file name the system refuses:
    unreadable = (TypeError, ValueError, AttributeError, KeyError, RecursionError, OSError)
    for name, step in steps:
        try:
            step()
        except unreadable as exc:
            check.bad(name, f"malformed ({exc!r})")
    if strict and check.linked:
        check.bad("audit.jsonl", f"--strict: {check.linked} rows are linked only (args withheld, or no key)")
    return check


def main(argv: list[str] | None = None) -> int:
    """The command line: `python verify_evidence.py DIR [--key-file PATH] [--strict]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    strict = "--strict" in args
    args = [a for a in args if a != "--strict"]
    key = os.environ.get(KEY_ENV, "").encode("utf-8") or None
    if "--key-file" in args:
        at = args.index("--key-file")
        if at + 1 >= len(args):
            print("usage: verify_evidence.py DIR [--key-file PATH] [--strict]", file=sys.stderr)
            return 2
        try:
            key = Path(args[at + 1]).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            print(f"cannot read the key file {args[at + 1]!r}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        del args[at : at + 2]
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: verify_evidence.py DIR [--key-file PATH] [--strict]", file=sys.stderr)
        return 2
    check = verify(args[0], key=key, strict=strict)
    if check.problems:
        print(f"NOT VERIFIED: {len(check.problems)} problem(s) in {args[0]}")
        for problem in check.problems[:MAX_SHOWN]:
            print(f"  {problem}")
        return 1
    manifest = json.loads((check.folder / "manifest.json").read_bytes())
    rng = manifest["range"]
    print(f"VERIFIED: {args[0]}")
    print(
        f"  audit rows seq {rng['first_seq']}..{rng['last_seq']} ({rng['rows']}), after prev_hash {rng['prev_hash']}"
    )
    print(f"  head hash {rng['head_hash']}")
    print(f"  hashes recomputed: {check.recomputed}; linked only: {check.linked}")
    if check.linked:
        why = "no key was given" if manifest.get("keyed") and key is None else "their args are withheld"
        print(
            f"  The {check.linked} linked rows hold their place in the chain, but their contents are not "
            f"proven ({why}): export with --args stored (and verify with the key) to recompute every row."
        )
    print(f"  manifest sha256 {sha256_file(check.folder / 'manifest.json')}")
    print(
        "Compare the head hash with the store's (langgraph-hitl audit --verify) or an anchor kept elsewhere."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
