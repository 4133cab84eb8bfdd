"""Retention (`store.retention`, `langgraph-hitl audit-prune`): old audit rows are archived as
evidence, a signed checkpoint of the chain head is recorded at the cut, the rows are deleted,
and what remains still verifies; the database deletes nothing above a recorded cut."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from langgraph_hitl import Approvals
from langgraph_hitl.cli._app import app
from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.audit_cuts import CUT_DOMAIN, Cut, cut_mac, cuts
from langgraph_hitl.store.evidence import export_evidence
from langgraph_hitl.store.evidence_verifier import verify as verify_folder
from langgraph_hitl.store.retention import PruneError, plan_prune, prune
from langgraph_hitl.testing import FakeClock

from graphs import action, build


def db_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    return (sqlite3.DatabaseError, psycopg.Error)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def seed(store: Store, n: int = 10, *, day: int = 1) -> None:
    """`n` events, one a day from January `day`, 2026, with arguments."""
    store.audit.append(
        [
            {
                "event_id": f"e{day + i}",
                "event": ("proposed", "approved", "executed")[i % 3],
                "actor": "alice",
                "ts": f"2026-01-{day + i:02d}T09:00:00+00:00",
                "args": {"n": day + i, "to": "x@example.com"},
            }
            for i in range(n)
        ]  # fmt: skip
    )


def raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return store.backend.execute(sql, params)


def run_verifier(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(folder / "verify_evidence.py"), str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prune_then_verify(store: Store, tmp_path: Path) -> None:
    """The archive verifies on its own and ends where the log now starts; verify() reports the cut."""
    seed(store)
    before = store.audit.query()
    report = prune(store, before="2026-01-05", archive=tmp_path / "a")
    assert report.cut is not None and report.cut.seq == 4 and report.rows == 4
    assert report.cut.head_hash == before[3]["hash"]
    result = store.audit.verify()
    assert (
        result.ok and result.cut_seq == 4 and result.checked == 6 and result.head_hash == before[-1]["hash"]
    )
    assert [r["seq"] for r in store.audit.query()] == list(range(5, 11))
    with pytest.raises(ValueError, match=r"Rows up to 2026-01-04.*\(seq 4\) were pruned"):
        export_evidence(store, tmp_path / "early", since="2026-01-02")
    rest = export_evidence(store, tmp_path / "rest", since="2026-01-05", args="stored")
    assert rest.first_seq == 5 and rest.prev_hash == report.cut.head_hash
    assert json.loads((tmp_path / "rest" / "manifest.json").read_text())["after_cut"]["seq"] == 4
    assert run_verifier(tmp_path / "rest").returncode == 0
    done = run_verifier(tmp_path / "a")
    assert done.returncode == 0 and "hashes recomputed: 4; linked only: 0" in done.stdout, done.stdout
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["range"]["head_hash"] == report.cut.head_hash
    assert (
        hashlib.sha256((tmp_path / "a" / "manifest.json").read_bytes()).hexdigest()
        == report.cut.archive_sha256
    )
    # a second prune chains onto the first; appends go on; anchors at and after the cut check
    second = prune(store, before="2026-01-08", archive=tmp_path / "b")
    assert second.cut is not None and second.cut.seq == 7 and len(cuts(store.backend)) == 2
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["after_cut"]["seq"] == 4
    assert run_verifier(tmp_path / "b").returncode == 0
    seed(store, 2, day=20)
    assert store.audit.verify(anchor=(7, second.cut.head_hash)).ok
    assert store.audit.verify(anchor=(12, store.audit.head()[1])).ok
    assert not store.audit.verify(anchor=(7, "0" * 64)).ok


def test_nothing_to_prune_and_the_newest_row_stays(store: Store, tmp_path: Path) -> None:
    seed(store, 3)
    assert prune(store, before="2025-01-01", archive=tmp_path / "a").cut is None
    report = prune(store, before="2100-01-01", archive=tmp_path / "b")
    assert report.cut is not None and report.cut.seq == 2  # the newest row stays: the chain goes on from it
    assert store.audit.verify().ok and prune(store, before="2100-01-01", archive=tmp_path / "c").cut is None


def test_tampering_with_a_remaining_row_is_caught(store: Store, tmp_path: Path) -> None:
    seed(store)
    prune(store, before="2026-01-05", archive=tmp_path / "a")
    _drop_audit_triggers(store)
    raw(store, "UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 7")
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 7 and result.cut_seq == 4 and result.checked == 2


def test_a_rewritten_first_row_no_longer_links_to_the_checkpoint(store: Store, tmp_path: Path) -> None:
    """Delete the first remaining row and renumber nothing: the gap shows; rewrite its prev_hash: the link breaks."""
    seed(store)
    prune(store, before="2026-01-05", archive=tmp_path / "a")
    _drop_audit_triggers(store)
    raw(store, "UPDATE hitl_audit SET prev_hash = ? WHERE seq = 5", ("1" * 64,))
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 5 and "pruned through seq 4" in (result.reason or "")


def test_a_cut_forged_without_the_key_is_caught(store: Store, tmp_path: Path) -> None:
    """Someone with SQL but not the seal key inserts a cut (the database accepts a well-formed one),
    deletes the rows below it and hides them: verify() refuses the checkpoint."""
    seed(store)
    rows = store.audit.query()
    for mac in (
        "0" * 64,
        cut_mac(b"mallory's own key", Cut(5, rows[4]["hash"], rows[4]["ts"], "now", "0" * 64, "")),
    ):
        raw(
            store,
            "INSERT INTO hitl_audit_cuts (cut_seq, head_hash, cut_ts, created_at, archive_sha256, mac) VALUES (?, ?, ?, ?, ?, ?)",
            (
                5 if mac == "0" * 64 else 6,
                rows[4 if mac == "0" * 64 else 5]["hash"],
                "t",
                "now",
                "0" * 64,
                mac,
            ),
        )
    raw(store, "DELETE FROM hitl_audit WHERE seq <= 6")
    result = store.audit.verify()
    assert not result.ok and result.first_bad_seq == 6 and "cannot be trusted" in (result.reason or "")
    with pytest.raises(PruneError, match="does not verify"):
        prune(store, before="2026-01-09", archive=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_a_cut_signed_with_the_store_key_by_hand_is_the_real_thing(store: Store) -> None:
    """The MAC is HMAC-SHA256 over the documented fields: computed without the library, it verifies."""
    seed(store, 4)
    row = store.audit.query()[1]
    fields = [CUT_DOMAIN, 2, row["hash"], row["ts"], "2026-02-01T00:00:00+00:00", "a" * 64]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    mac = hmac.new(store.seal_key, text, hashlib.sha256).hexdigest()
    raw(
        store,
        "INSERT INTO hitl_audit_cuts (cut_seq, head_hash, cut_ts, created_at, archive_sha256, mac) VALUES (?, ?, ?, ?, ?, ?)",
        (2, row["hash"], row["ts"], fields[4], fields[5], mac),
    )
    raw(store, "DELETE FROM hitl_audit WHERE seq <= 2")
    assert store.audit.verify().cut_seq == 2 and store.audit.verify().ok


def test_the_database_refuses_deletes_above_the_cut(store: Store, tmp_path: Path) -> None:
    seed(store)
    with pytest.raises(db_errors(), match="append-only: DELETE refused"):
        raw(store, "DELETE FROM hitl_audit WHERE seq = 1")  # no cut yet: nothing may go
    prune(store, before="2026-01-05", archive=tmp_path / "a")
    for sql in (
        "DELETE FROM hitl_audit WHERE seq = 5",
        "DELETE FROM hitl_audit",
        "UPDATE hitl_audit SET actor = 'x'",
    ):
        with pytest.raises(db_errors(), match="append-only"):
            raw(store, sql)
    for sql in ("DELETE FROM hitl_audit_cuts", "UPDATE hitl_audit_cuts SET cut_seq = 9"):
        with pytest.raises(db_errors(), match="hitl_audit_cuts is append-only"):
            raw(store, sql)
    if store.backend.name == "postgres":
        for table in ("hitl_audit", "hitl_audit_cuts"):
            with pytest.raises(db_errors(), match="append-only"):
                raw(store, f"TRUNCATE {table}")
    head = store.audit.head()
    bad_cuts = [
        (6, "f" * 64),
        (head[0], head[1]),
        (3, "0" * 64),
    ]  # unknown hash, the newest row, below the last cut
    for seq, digest in bad_cuts:
        with pytest.raises(db_errors(), match="a cut names an audit row by its hash"):
            raw(
                store,
                "INSERT INTO hitl_audit_cuts VALUES (?, ?, 't', 'now', ?, ?)",
                (seq, digest, "0" * 64, "0" * 64),
            )
    assert store.audit.verify().ok and len(store.audit.query()) == 6


@pytest.mark.parametrize("seq", [2, 0, -7])
def test_a_row_slipped_in_at_or_below_the_cut_fails_verify(store_url: str, tmp_path: Path, seq: int) -> None:
    """Rows at or below the last cut (or below seq 1) are outside the chain verify() walks, yet
    query() shows them: someone with INSERT but not the audit key slips a forged approval there."""
    with open_store(store_url, hmac_key=b"k" * 32) as store:
        seed(store)
        prune(store, before="2026-01-05", archive=tmp_path / "a")
        forged = dict(raw(store, "SELECT * FROM hitl_audit WHERE seq = 6")[0], seq=seq, event_id="forged")
        forged.update(event="approved", actor="mallory")
        cols = ", ".join(forged)
        raw(
            store,
            f"INSERT INTO hitl_audit ({cols}) VALUES ({', '.join('?' * len(forged))})",
            tuple(forged.values()),
        )
        assert any(r["actor"] == "mallory" for r in store.audit.query())
        result = store.audit.verify()
        assert (
            not result.ok
            and result.first_bad_seq == seq
            and "outside the hash chain" in (result.reason or "")
        )
        with pytest.raises(PruneError, match="does not verify"):
            prune(store, before="2026-01-09", archive=tmp_path / "b")


def test_sqlite_insert_or_replace_cannot_rewrite_or_drop_a_row(db_url: str) -> None:
    """SQLite's INSERT OR REPLACE deletes the row it collides with without firing DELETE or UPDATE
    triggers: an insert over an existing seq or event_id is refused, so nothing above a cut changes."""
    with open_store(db_url) as store:
        seed(store, 4)
        row = raw(store, "SELECT * FROM hitl_audit WHERE seq = 3")[0]
        cols, marks = ", ".join(row), ", ".join("?" * len(row))
        for changed in ({"actor": "mallory"}, {"seq": 99}):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw(store, f"INSERT OR REPLACE INTO hitl_audit ({cols}) VALUES ({marks})", tuple({**row, **changed}.values()))  # fmt: skip
        assert raw(store, "SELECT * FROM hitl_audit WHERE seq = 3") == [row]
        assert store.audit.verify().ok and len(store.audit.query()) == 4


def test_an_export_after_a_prune_says_where_its_rows_went(store: Store, tmp_path: Path) -> None:
    """An export without `since` after a prune starts at the checkpoint: its summary must not call
    that "the start of the log" (the period's older rows are in the archive, not here), and its
    manifest's `after_cut` must be the checkpoint its range follows."""
    seed(store)
    report = prune(store, before="2026-01-05", archive=tmp_path / "a")
    assert report.cut is not None
    folder = export_evidence(store, tmp_path / "e", until="2026-01-03").folder  # a period wholly pruned
    summary = (folder / "summary.md").read_text()
    assert "start of the log" not in summary and f"pruning checkpoint at seq {report.cut.seq}" in summary
    assert report.cut.archive_sha256 in summary and run_verifier(folder).returncode == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["after_cut"]["seq"] = 2
    (folder / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_folder(folder).problems
    assert "manifest.json: after_cut does not name range.first_seq - 1 and range.prev_hash" in problems


def test_a_log_that_does_not_verify_is_not_pruned(store: Store, tmp_path: Path) -> None:
    seed(store)
    _drop_audit_triggers(store)
    raw(store, "UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(PruneError, match="does not verify"):
        prune(store, before="2026-01-05", archive=tmp_path / "a")
    assert len(store.audit.query()) == 10 and not (tmp_path / "a").exists()


def test_open_threads_block_a_prune(db_url: str, tmp_path: Path) -> None:
    """A thread still waiting on a decision would write its events again: refused unless forced."""
    clock = FakeClock()
    with Approvals.open(build(), db_url, clock=clock) as runner:
        runner.start("done", action("read_record", id=1))
        waiting = runner.start("waits", action("delete_record", id=2)).pending[0]
        runner.start("last", action("read_record", id=3))
        store = runner.store
        assert plan_prune(store, before="2100-01-01").open_threads == ("waits",)
        with pytest.raises(PruneError, match="'waits'.*still wait"):
            prune(store, before="2100-01-01", archive=tmp_path / "a")
        assert not (tmp_path / "a").exists()
        runner.decide(waiting.request_id, {"type": "approve"}, approver="alice")
        runner.start("after", action("read_record", id=4))
        report = prune(store, before="2100-01-01", archive=tmp_path / "b")
        assert report.cut is not None and store.audit.verify().ok
        assert run_verifier(tmp_path / "b").returncode == 0


def test_keyed_log_prunes_and_verifies(tmp_path: Path) -> None:
    """With an audit key the cut is signed with it, and the archive's HMACs check with it."""
    key = b"audit-key-" * 4
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with open_store(url, hmac_key=key) as keyed:
        seed(keyed)
        report = prune(keyed, before="2026-01-05", archive=tmp_path / "a")
        assert report.cut is not None and report.cut.authentic(key) and keyed.audit.verify().ok
    with open_store(url) as without:  # no key: reads only, and cannot vouch for the cut
        assert not without.audit.verify().ok


def test_cli_audit_prune(db_url: str, tmp_path: Path) -> None:
    with open_store(db_url) as s:
        seed(s)
    cli = CliRunner()
    base = ["--db", db_url, "audit-prune", "--before", "2026-01-05", "--archive", str(tmp_path / "a")]
    shown = cli.invoke(app, base, catch_exceptions=False)
    assert shown.exit_code == 0 and "Would archive audit rows seq 1..4 (4)" in shown.output
    assert not (tmp_path / "a").exists()
    done = cli.invoke(app, [*base, "--yes", "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["cut_seq"] == 4 and run_verifier(tmp_path / "a").returncode == 0
    checked = cli.invoke(app, ["--db", db_url, "audit", "--verify", "--json"], catch_exceptions=False)
    assert checked.exit_code == 0 and json.loads(checked.output)["ok"] is True
    bad = cli.invoke(
        app, ["--db", db_url, "audit-prune", "--before", "soon", "--archive", str(tmp_path / "x"), "--yes"]
    )
    assert bad.exit_code == 2


def _drop_audit_triggers(store: Store) -> None:
    """What an attacker with database access does first."""
    if store.backend.name == "postgres":
        raw(store, "DROP TRIGGER hitl_audit_append_only ON hitl_audit")
    else:
        raw(store, "DROP TRIGGER hitl_audit_no_update")
        raw(store, "DROP TRIGGER hitl_audit_no_delete")
