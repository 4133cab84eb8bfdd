"""Evidence export (`store.evidence`, `langgraph-hitl evidence`): a period of the audit log as a
folder that a standalone, standard-library verifier checks; every tampering is named by file and line."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from langgraph_hitl import Approvals
from langgraph_hitl.cli._app import app
from langgraph_hitl.errors import AuditIntegrityError, HITLError
from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.evidence import export_evidence
from langgraph_hitl.store.evidence_verifier import KINDS, LINE_KEYS, verify
from langgraph_hitl.testing import FakeClock

from graphs import action, build

PERSONAL = "jane.doe@example.com"
"""A personal value in the actions' arguments: it must not leave in a digest or redacted export."""
HALTS_AND_REVERSALS = ("halted", "unhalted", "reversal_requested", "reversed", "reversal_failed")
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_history(url: str) -> None:
    """A real runner on a real graph: auto-approval, a refused answer, approval with a receipt,
    a rejection, a timeout; then a halt and a reversal appended through the audit API."""
    clock = FakeClock()
    with Approvals.open(build(timeout_s=60, verify=True), url, clock=clock) as runner:
        runner.start("t-auto", action("read_record", id=1, owner=PERSONAL))
        req = runner.start("t-ok", action("delete_record", id=7, owner=PERSONAL)).pending[0]
        with pytest.raises(HITLError):
            runner.decide(req.request_id, {"type": "approve", "verify": "DELETE 8"}, approver="alice")
        runner.decide(req.request_id, {"type": "approve", "verify": "DELETE 7"}, approver="alice")
        req = runner.start("t-ok2", action("delete_record", id=11)).pending[0]
        runner.decide(req.request_id, {"type": "approve", "verify": "DELETE 11"}, approver="bob")
        req = runner.start("t-no", action("delete_record", id=9, owner=PERSONAL)).pending[0]
        runner.decide(req.request_id, {"type": "reject"}, approver="bob")
        runner.start("t-late", action("delete_record", id=3))
        clock.advance(61)
        assert runner.expire_overdue()
        store = runner.store
        store.audit.append(
            [
                {
                    "event_id": f"oversight-{name}",
                    "event": name,
                    "actor": "carol",
                    "thread_id": "t-ok",
                    "detail": {"reason": "incident 42"},
                    "args": {"owner": PERSONAL} if "reversal" in name else None,
                }
                for name in HALTS_AND_REVERSALS
            ]  # fmt: skip
        )
        store.audit.append(
            [
                {
                    "event_id": "late-refusal",
                    "event": "refused",
                    "actor": "dave",
                    "detail": {"reason": "halted"},
                }
            ]
        )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'hitl.db'}"
    make_history(url)
    return url


@pytest.fixture
def store(history: str) -> Iterator[Store]:
    with open_store(history) as opened:
        yield opened


@pytest.fixture(scope="module")
def exports(history: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One export of the whole history per arguments mode."""
    out = {}
    with open_store(history) as store:
        for mode in ("stored", "digest", "redacted"):
            out[mode] = export_evidence(store, tmp_path_factory.mktemp("ev") / mode, args=mode).folder  # type: ignore[arg-type]
    return out


def run_verifier(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The verifier as an auditor runs it: a child Python in isolated mode (-I: no site-packages,
    no PYTHONPATH, no user site), so it can only use the standard library."""
    return subprocess.run(
        [sys.executable, "-I", str(folder / "verify_evidence.py"), str(folder), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def test_export_verifies_with_the_standalone_script(exports: dict[str, Path], store: Store) -> None:
    """Stored arguments: every row's hash is recomputed by the script, which links to the genesis
    and ends at the store's head; every record kind of the history is there."""
    folder = exports["stored"]
    done = run_verifier(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = store.audit.query()
    assert f"hashes recomputed: {len(rows)}; linked only: 0" in done.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["range"] == {
        "first_seq": 1, "last_seq": len(rows), "rows": len(rows), "prev_hash": "0" * 64, "head_hash": rows[-1]["hash"],
    }  # fmt: skip
    counts = manifest["counts"]
    for kind in ("request", "decision", "refusal", "timeout", "execution", "halt", "reversal"):
        assert counts.get(kind), (kind, counts)
    assert counts["halt"] == 2 and counts["reversal"] == 3 and counts["refusal"] >= 2
    exported = [json.loads(line) for line in lines_of(folder / "audit.jsonl")]
    assert [(r["seq"], r["hash"]) for r in exported] == [(r["seq"], r["hash"]) for r in rows]
    assert all(r["kind"] == KINDS.get(r["event"], "other") for r in exported)
    receipts = [json.loads(line) for line in lines_of(folder / "receipts.jsonl")]
    approved = [r for r in rows if r["event"] == "approved"]
    assert [r["seq"] for r in receipts] == [r["seq"] for r in approved]
    assert [r["receipt"]["approver"] for r in receipts] == ["alice", "bob"]
    summary = (folder / "summary.md").read_text()
    assert "| refusal | `refused`, `denied` |" in summary and "What timed out" in summary


@pytest.mark.parametrize("mode", ["digest", "redacted"])
def test_withheld_arguments_never_leave_and_the_chain_still_links(
    exports: dict[str, Path], mode: str
) -> None:
    """No personal value in any file; rows keep args_hash and link by hash; --strict says what was not recomputed."""
    folder = exports[mode]
    for path in folder.iterdir():
        assert PERSONAL not in path.read_text(encoding="utf-8"), path.name
    rows = [json.loads(line) for line in lines_of(folder / "audit.jsonl")]
    withheld = [r for r in rows if r["args_withheld"]]
    assert withheld and all(r["args_withheld"] == mode and len(r["args_hash"]) == 64 for r in withheld)
    if mode == "redacted":
        assert all(json.loads(r["args"])["owner"] == "[redacted]" for r in withheld if "owner" in r["args"])
    done = run_verifier(folder)
    assert done.returncode == 0 and f"linked only: {len(withheld)}" in done.stdout, done.stdout
    strict = run_verifier(folder, "--strict")
    assert strict.returncode == 1 and "--strict" in strict.stdout


def _copy(folder: Path, tmp_path: Path, n: int) -> Path:
    target = tmp_path / f"copy{n}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder, target)
    return target


def _named(problems: list[str], name: str, line: int) -> bool:
    """A problem starts with `NAME line N:` (or, for a digest, names `lines.sha256 line N`)."""
    return any(p.startswith(f"{name} line {line}:") or f"on {name} line {line} " in p for p in problems)


@FAST
@given(
    mode=st.sampled_from(["stored", "digest"]),
    name=st.sampled_from(["audit.jsonl", "receipts.jsonl", "lines.sha256"]),
    pick=st.floats(0, 1, exclude_max=True),
    at=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_any_flipped_byte_is_named_by_file_and_line(
    exports: dict[str, Path], tmp_path: Path, mode: str, name: str, pick: float, at: float, bit: int
) -> None:
    """Flip one bit of one byte of one line: the verifier names that file and line."""
    folder = _copy(exports[mode], tmp_path, 0)
    lines = lines_of(folder / name)
    index = int(pick * len(lines))
    line = bytearray(lines[index])
    offset = int(at * len(line))
    line[offset] ^= 1 << bit
    lines[index] = bytes(line)
    (folder / name).write_bytes(b"".join(x + b"\n" for x in lines))
    problems = verify(folder).problems
    assert _named(problems, name, index + 1), problems
    assert any(p.startswith(f"{name}: sha256") for p in problems)


@FAST
@given(
    mode=st.sampled_from(["stored", "digest"]),
    name=st.sampled_from(["audit.jsonl", "receipts.jsonl"]),
    pick=st.floats(0, 1, exclude_max=True),
    how=st.sampled_from(["drop", "swap", "duplicate"]),
)
def test_dropped_reordered_or_repeated_lines_are_named(
    exports: dict[str, Path], tmp_path: Path, mode: str, name: str, pick: float, how: str
) -> None:
    """Drop a line, swap it with the next, or repeat it: the first line out of place is named."""
    folder = _copy(exports[mode], tmp_path, 1)
    lines = lines_of(folder / name)
    index = int(pick * (len(lines) - 1))
    if how == "drop":
        del lines[index]
    elif how == "swap":
        lines[index], lines[index + 1] = lines[index + 1], lines[index]
    else:
        lines.insert(index, lines[index])
        index += 1  # the copy is the line that does not belong
    (folder / name).write_bytes(b"".join(x + b"\n" for x in lines))
    problems = verify(folder).problems
    assert _named(problems, name, index + 1), problems


def _edit(manifest: dict[str, Any], what: str) -> None:
    rng = manifest["range"]
    if what == "head_hash":
        rng["head_hash"] = "f" * 64
    elif what == "prev_hash":
        rng["prev_hash"] = "1" + rng["prev_hash"][1:]
    elif what == "first_seq":
        rng["first_seq"] += 1
    elif what == "rows":
        rng["rows"] -= 1
    elif what == "counts":
        manifest["counts"]["decision"] += 1
    elif what == "file_digest":
        manifest["files"]["summary.md"]["sha256"] = "0" * 64
    elif what == "file_dropped":
        del manifest["files"]["receipts.jsonl"]
    elif what == "args":
        manifest["args"] = "stored"
    elif what == "format":
        manifest["format"] = "other/1"


@pytest.mark.parametrize(
    "what",
    [
        "head_hash",
        "prev_hash",
        "first_seq",
        "rows",
        "counts",
        "file_digest",
        "file_dropped",
        "args",
        "format",
    ],
)
def test_edited_manifest_is_caught(exports: dict[str, Path], tmp_path: Path, what: str) -> None:
    folder = _copy(exports["digest"], tmp_path, 2)
    manifest = json.loads((folder / "manifest.json").read_text())
    _edit(manifest, what)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    problems = verify(folder).problems
    assert problems and all(p.split(":")[0].split(" line ")[0] in {
        "manifest.json", "audit.jsonl", "receipts.jsonl", "summary.md"} for p in problems), problems  # fmt: skip


def test_added_or_missing_files_are_caught(exports: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(exports["stored"], tmp_path, 3)
    (folder / "extra.jsonl").write_text("{}\n")
    (folder / "summary.md").unlink()
    problems = verify(folder).problems
    assert "extra.jsonl: not listed in the manifest (a file was added)" in problems
    assert "summary.md: listed in the manifest but missing" in problems
    cut = _copy(exports["stored"], tmp_path, 4)
    (cut / "audit.jsonl").write_bytes((cut / "audit.jsonl").read_bytes()[:-1])
    assert any("has no newline" in p for p in verify(cut).problems)


def test_the_script_reports_file_and_line_and_fails(exports: dict[str, Path], tmp_path: Path) -> None:
    """The child process exits 1 and prints the file and line (an edited actor on line 3)."""
    folder = _copy(exports["stored"], tmp_path, 5)
    lines = lines_of(folder / "audit.jsonl")
    row = json.loads(lines[2])
    row["actor"] = "mallory"
    lines[2] = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    (folder / "audit.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
    done = run_verifier(folder)
    assert done.returncode == 1 and "NOT VERIFIED" in done.stdout
    assert "audit.jsonl line 3: does not match its digest on lines.sha256 line 3" in done.stdout
    assert "audit.jsonl line 3: the row does not hash to its 'hash'" in done.stdout


def test_a_period_links_to_the_row_before_it(history: str, store: Store, tmp_path: Path) -> None:
    """since/until pick a contiguous seq range; its prev_hash is the hash of the row before it."""
    rows = store.audit.query()
    middle = next(r["ts"] for r in rows if r["ts"] > rows[0]["ts"])  # the fake clock moved at the timeout
    done = export_evidence(store, tmp_path / "p", since=middle, args="stored")
    first = next(r for r in rows if r["ts"] >= middle)
    assert done.first_seq == first["seq"] > 1 and done.prev_hash == rows[first["seq"] - 2]["hash"]
    assert run_verifier(done.folder).returncode == 0
    empty = export_evidence(store, tmp_path / "e", since="2100-01-01")
    assert empty.rows == 0 and empty.prev_hash == empty.head_hash == rows[-1]["hash"]
    assert run_verifier(empty.folder).returncode == 0
    with pytest.raises(ValueError, match="not an empty folder"):
        export_evidence(store, done.folder)
    with pytest.raises(ValueError, match="not an export mode"):
        export_evidence(store, tmp_path / "x", args="all")  # type: ignore[arg-type]


def test_keyed_log_needs_its_key_to_recompute(tmp_path: Path) -> None:
    """A keyed log's rows are HMACs: without the key they link; with it they recompute and the
    manifest's seal checks; another key fails."""
    key = b"k" * 32
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    with open_store(url, hmac_key=key) as keyed:
        keyed.audit.append(
            [{"event_id": f"e{i}", "event": "approved", "actor": "alice", "args": {"i": i}} for i in range(5)]
        )
        folder = export_evidence(keyed, tmp_path / "k", args="stored").folder
    (tmp_path / "key").write_bytes(key + b"\n")
    (tmp_path / "wrong").write_bytes(b"w" * 32)
    without = run_verifier(folder)
    assert without.returncode == 0 and "hashes recomputed: 0; linked only: 5" in without.stdout
    with_key = run_verifier(folder, "--key-file", str(tmp_path / "key"))
    assert with_key.returncode == 0 and "hashes recomputed: 5; linked only: 0" in with_key.stdout
    wrong = run_verifier(folder, "--key-file", str(tmp_path / "wrong"))
    assert wrong.returncode == 1 and "manifest.json: its seal does not verify" in wrong.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["created_at"] = "2020-01-01T00:00:00+00:00"  # a field no row checks: the seal does
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "its seal does not verify" in run_verifier(folder, "--key-file", str(tmp_path / "key")).stdout


@FAST
@given(
    args=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**63)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    )
)
def test_any_json_arguments_export_and_verify(store_url: str, tmp_path: Path, args: dict[str, Any]) -> None:
    """Arguments of any JSON (NUL, bidi, astral characters, big numbers) hash the same in the
    script as in the store, on SQLite and Postgres."""
    with open_store(store_url) as s:
        base = s.audit.head()[0]
        s.audit.append([{"event_id": f"x{base}", "event": "proposed", "actor": "agent", "args": args}])
        out = tmp_path / f"x{base}"
        export_evidence(s, out, first_seq=base + 1, args="stored")
    check = verify(out)
    assert not check.problems and check.recomputed == 1, check.problems


def test_cli_evidence(history: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["--db", history, "evidence", "--out", str(out), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["first_seq"] == 1 and report["rows"] > 10 and run_verifier(out).returncode == 0
    bad = runner.invoke(app, ["--db", history, "evidence", "--out", str(tmp_path / "b"), "--args", "all"])
    assert bad.exit_code == 2 and "--args 'all' is not an export mode" in bad.output
    again = runner.invoke(app, ["--db", history, "evidence", "--out", str(out), "--since", "yesterday"])
    assert again.exit_code == 2


def _forge_digests(folder: Path) -> None:
    """What an editor who knows the format does after changing a line: rewrite every digest."""
    entries = []
    for name in ("audit.jsonl", "receipts.jsonl"):
        for number, line in enumerate(lines_of(folder / name), 1):
            entries.append(f"{hashlib.sha256(line).hexdigest()}  {name}:{number}\n")
    (folder / "lines.sha256").write_text("".join(entries))
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name]["sha256"] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


@FAST
@given(pick=st.floats(0, 1, exclude_max=True), field=st.sampled_from(sorted(LINE_KEYS)), value=JSON_VALUES)
def test_a_changed_value_is_caught_even_with_every_digest_rewritten(
    exports: dict[str, Path], tmp_path: Path, pick: float, field: str, value: Any
) -> None:
    """Stored arguments: change any field of any row to any JSON value (NaN, lists, objects) and
    rewrite lines.sha256 and the manifest's digests: the chain still names that line, and the
    verifier never crashes on values no export writes."""
    folder = _copy(exports["stored"], tmp_path, 6)
    lines = lines_of(folder / "audit.jsonl")
    index = int(pick * len(lines))
    row = json.loads(lines[index])
    assume(row[field] != value or type(row[field]) is not type(value))
    row[field] = value
    lines[index] = json.dumps(row).encode()
    (folder / "audit.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
    _forge_digests(folder)
    problems = verify(folder).problems
    assert _named(problems, "audit.jsonl", index + 1) or _named(problems, "audit.jsonl", index + 2), problems


@pytest.mark.parametrize("mode", ["digest", "stored"])
def test_a_log_that_does_not_verify_is_not_exported(store_url: str, tmp_path: Path, mode: str) -> None:
    """The exporter vouches for each row it writes, also one whose arguments it withholds (which
    nobody could re-hash later): an edited row stops the export, on SQLite and Postgres."""
    with open_store(store_url) as s:
        s.audit.append(
            [{"event_id": f"e{i}", "event": "approved", "actor": "alice", "args": {"i": i}} for i in range(4)]
        )
        if s.backend.name == "postgres":
            s.backend.execute("DROP TRIGGER hitl_audit_append_only ON hitl_audit")
        else:
            s.backend.execute("DROP TRIGGER hitl_audit_no_update")
        s.backend.execute("UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 3")
        with pytest.raises(AuditIntegrityError, match="row 3's contents do not match its hash"):
            export_evidence(s, tmp_path / "x", args=mode)  # type: ignore[arg-type]
        assert not (tmp_path / "x" / "manifest.json").exists()


def test_a_keyed_log_opened_without_its_key_is_not_exported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with open_store(url, hmac_key=b"k" * 32) as keyed:
        keyed.audit.append([{"event_id": "e1", "event": "approved", "actor": "alice"}])
    with open_store(url) as without, pytest.raises(AuditIntegrityError, match="opened without its key"):
        export_evidence(without, tmp_path / "x")


def test_the_verifier_hashes_the_columns_the_store_hashes_and_knows_every_event() -> None:
    """The standalone copy of the store's vocabulary stays the store's: a new hashed column or a
    new audit event must be placed here deliberately (an event without a kind would count as 'other')."""
    from langgraph_hitl.store.audit_events import AUDIT_EVENTS, HASHED
    from langgraph_hitl.store.evidence import KIND_MEANING
    from langgraph_hitl.store.evidence_verifier import HASHED as VERIFIER_HASHED

    assert VERIFIER_HASHED == HASHED
    assert set(AUDIT_EVENTS) <= set(KINDS), sorted(set(AUDIT_EVENTS) - set(KINDS))
    assert set(KINDS.values()) | {"other"} == set(KIND_MEANING)


def _redigest(folder: Path, *, manifest_edit: Any = None) -> None:
    """What a forger without the key does after editing lines: recompute `lines.sha256` and every
    file digest in the manifest (so only the verifier's own checks can still catch the edit)."""
    listing = []
    for name in ("audit.jsonl", "receipts.jsonl"):
        for number, line in enumerate(lines_of(folder / name), 1):
            listing.append(f"{hashlib.sha256(line).hexdigest()}  {name}:{number}\n")
    (folder / "lines.sha256").write_text("".join(listing))
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest_edit is not None:
        manifest_edit(manifest)
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _unseal(manifest: dict[str, Any]) -> None:
    manifest.pop("seal")
    manifest["keyed"] = False


def test_a_keyed_export_whose_seal_was_removed_fails_with_the_key(tmp_path: Path) -> None:
    """A forger without the key edits a linked row of a keyed log's digest export, recomputes every
    digest and drops the seal (saying the log is unkeyed): the auditor who holds the key is told."""
    key = b"k" * 32
    with open_store(f"sqlite:///{tmp_path / 'keyed.db'}", hmac_key=key) as keyed:
        keyed.audit.append([{"event_id": f"e{i}", "event": "rejected", "actor": "bob", "args": {"i": i}} for i in range(3)])  # fmt: skip
        folder = export_evidence(keyed, tmp_path / "k", args="digest").folder
    (tmp_path / "key").write_bytes(key)
    lines = lines_of(folder / "audit.jsonl")
    row = json.loads(lines[1])
    row.update(event="approved", decision="approved", kind="decision", actor="alice")
    lines[1] = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    (folder / "audit.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
    _redigest(folder, manifest_edit=_unseal)
    done = run_verifier(folder, "--key-file", str(tmp_path / "key"))
    assert done.returncode == 1 and "manifest.json: its seal does not verify" in done.stdout, done.stdout


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("bom", "audit.jsonl line 1:"),
        ("cr", "audit.jsonl line 1:"),
        ("spaces", "audit.jsonl line 1:"),
        ("repeated_key", "audit.jsonl line 1:"),
        ("deep_line", "audit.jsonl line 1:"),
        ("deep_receipt", "receipts.jsonl line 1:"),
        ("receipt_event_id", "receipts.jsonl line 1:"),
        ("deep_manifest", "manifest.json:"),
    ],
)
def test_lines_not_written_as_exported_are_named_not_crashed_on(
    exports: dict[str, Path], tmp_path: Path, how: str, named: str
) -> None:
    """Lines that parse to the same row but are not the exporter's bytes (a BOM, a CR, spaces, a
    key given twice, which parsers read differently), a receipt line naming another event, and
    JSON nested past the recursion limit: each is a named problem, never VERIFIED nor a traceback."""
    folder = _copy(exports["stored"], tmp_path, 6)
    audit, receipts = lines_of(folder / "audit.jsonl"), lines_of(folder / "receipts.jsonl")
    if how == "bom":
        audit[0] = b"\xef\xbb\xbf" + audit[0]
    elif how == "cr":
        audit[0] += b"\r"
    elif how == "spaces":
        audit[0] = json.dumps(json.loads(audit[0]), sort_keys=True, ensure_ascii=False).encode()
    elif how == "repeated_key":
        audit[0] = audit[0][:-1] + b',"actor":' + json.dumps(json.loads(audit[0])["actor"]).encode() + b"}"
    elif how == "deep_line":
        audit[0] = _deep(100_000).encode()
    elif how == "deep_receipt":
        receipts[0] = _deep(100_000).encode()
    elif how == "receipt_event_id":
        line = json.loads(receipts[0])
        line["event_id"] = "another-event"
        receipts[0] = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    (folder / "audit.jsonl").write_bytes(b"".join(x + b"\n" for x in audit))
    (folder / "receipts.jsonl").write_bytes(b"".join(x + b"\n" for x in receipts))
    _redigest(folder)
    if how == "deep_manifest":
        (folder / "manifest.json").write_text(_deep(100_000))
    done = run_verifier(folder)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-500:]
    assert f"\n  {named}" in done.stdout, done.stdout


def test_names_from_the_folder_cannot_forge_the_report_or_crash_it(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """A file named with a line break and terminal control sequences (clear the screen, print a fake
    "VERIFIED") is reported escaped; a manifest entry the system cannot even look up (a name too
    long) is a problem, not a traceback; an unreadable --key-file is a usage error."""
    folder = _copy(exports["stored"], tmp_path, 7)
    (folder / "x\n\x1b[2J\x1b[HVERIFIED: evidence").write_text("")
    done = run_verifier(folder)
    assert done.returncode == 1 and "\x1b" not in done.stdout and "\nVERIFIED" not in done.stdout, done.stdout
    assert "x\\n\\x1b[2J\\x1b[HVERIFIED: evidence: not listed in the manifest" in done.stdout
    long = _copy(exports["stored"], tmp_path, 8)
    manifest = json.loads((long / "manifest.json").read_text())
    manifest["files"]["x" * 5000] = {"bytes": 0, "sha256": "0" * 64}
    (long / "manifest.json").write_text(json.dumps(manifest))
    done = run_verifier(long)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "manifest.json: " in done.stdout, (
        done.stderr
    )
    done = run_verifier(exports["stored"], "--key-file", str(tmp_path / "missing.key"))
    assert (
        done.returncode == 2 and "cannot read the key file" in done.stderr and "Traceback" not in done.stderr
    )


def test_no_other_seal_made_with_the_audit_key_passes_for_a_manifest_seal(tmp_path: Path) -> None:
    """The audit key also seals events, assessments and receipts (`receipts.seal`: an HMAC of an
    object's canonical JSON). The manifest's seal is domain-separated, so an object shaped like a
    forged manifest, sealed by any of those, is not a valid seal for it."""
    from langgraph_hitl.receipts import seal

    key = b"k" * 32
    with open_store(f"sqlite:///{tmp_path / 'keyed.db'}", hmac_key=key) as keyed:
        keyed.audit.append([{"event_id": "e1", "event": "approved", "actor": "alice", "args": {"i": 1}}])
        folder = export_evidence(keyed, tmp_path / "k", args="stored").folder
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["created_at"] = "2020-01-01T00:00:00+00:00"
    manifest["seal"] = seal({k: v for k, v in manifest.items() if k != "seal"}, key)["seal"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "key").write_bytes(key)
    done = run_verifier(folder, "--key-file", str(tmp_path / "key"))
    assert done.returncode == 1 and "manifest.json: its seal does not verify" in done.stdout, done.stdout


def test_an_empty_export_cannot_claim_a_range_it_does_not_hold(store: Store, tmp_path: Path) -> None:
    """An export of a period without rows says `seq N..N-1 (0)`; a manifest claiming `N..999 (0)`
    would be printed as verified, so the last seq is checked with or without rows."""
    folder = export_evidence(store, tmp_path / "e", since="2100-01-01").folder
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["range"]["last_seq"] = 999
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert any(
        p.startswith("audit.jsonl: 0 rows, but the manifest's range says") for p in verify(folder).problems
    )


@pytest.mark.parametrize("name", ["summary.md", "audit.jsonl", "manifest.json"])
def test_a_symbolic_link_in_the_folder_is_refused_unread(
    exports: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """An export holds regular files only. A link, even to the very same bytes, is refused without
    being read: it could name a file whose read never ends (as root, /proc/kmsg) or one outside."""
    folder = _copy(exports["stored"], tmp_path, 9)
    (tmp_path / name).write_bytes((folder / name).read_bytes())
    (folder / name).unlink()
    (folder / name).symlink_to(tmp_path / name)
    done = run_verifier(folder)
    assert done.returncode == 1 and f"\n  {name}: " in done.stdout and "symbolic link" in done.stdout, (
        done.stdout
    )
