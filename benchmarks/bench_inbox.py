"""The inbox at 1k, 10k and 100k threads against the best public LangGraph method.

LangGraph has no open-source API that lists threads paused at an interrupt. The best public
method scans every checkpoint with `saver.list(None)`, keeps each thread's newest
checkpoint, looks for an `__interrupt__` write on it, then calls `graph.get_state()` for the
threads on the page. langgraph-hitl reads one index (`hitl_requests`, status + seq).

How the database is built (fast, but with real rows): 100 sample threads are run through the
real graph by `Approvals` (10 paused at a review, 45 approved and executed, 45 auto-approved
reads), then their `checkpoints` and `writes` rows are copied with new thread ids by
`INSERT ... SELECT` (a bulk load: no journal, no fsync) until the file holds N threads, and the matching inbox rows are written
through `Inbox.index` (pending for the paused copies; resumed for the reviewed ones). So 10%
of threads are paused, each thread has the checkpoints and writes a real run leaves, and
the scan reads real msgpack blobs. The file grows 1k -> 10k -> 100k and is measured at each size.

Beside the first page it times `pending(thread_id=...)` (one paused thread, a different one
each time; `EXPLAIN QUERY PLAN` must show an index search), the first page filtered by approver
and by risk, and the second page by cursor.

    python benchmarks/bench_inbox.py                           # 1k, 10k, 100k; scan at 1k and 10k
    python benchmarks/bench_inbox.py --sizes 1000 --scan-sizes 1000 --lists 20
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import action, approval_graph  # noqa: E402

from langgraph_hitl import Approvals  # noqa: E402
from langgraph_hitl.store import RequestRow, Store, open_store  # noqa: E402

SAMPLE = {"paused": 10, "approved": 45, "auto": 45}
PAGE = 50


def build_sample(hitl: Approvals) -> dict[str, list[str]]:
    """Run the sample threads through the real graph; return thread ids by kind."""
    kinds: dict[str, list[str]] = {k: [] for k in SAMPLE}
    for i in range(SAMPLE["paused"]):
        hitl.start(f"s-paused-{i}", action("delete_record", id=i))
        kinds["paused"].append(f"s-paused-{i}")
    for i in range(SAMPLE["approved"]):
        run = hitl.start(f"s-approved-{i}", action("delete_record", id=1000 + i))
        hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="alice")
        kinds["approved"].append(f"s-approved-{i}")
    for i in range(SAMPLE["auto"]):
        hitl.start(f"s-auto-{i}", action("read_record", id=i))
        kinds["auto"].append(f"s-auto-{i}")
    return kinds


def _prefix(copy: int) -> str:
    # Copies' thread ids sort together and ascending, so the primary-key B-trees grow at one
    # end instead of splitting pages everywhere (the build is then bound by bytes written).
    return f"c{copy:06d}-"


def copy_checkpoints(path: Path, sample: list[str], copies: range) -> None:
    """Copy the sample threads' `checkpoints` and `writes` rows once per copy, with new thread ids.

    A bulk load: its own connection, no journal, no fsync (nothing else has the file open).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        marks = ", ".join("?" * len(sample))
        conn.execute("BEGIN")
        for k in copies:
            conn.execute(
                "INSERT INTO checkpoints SELECT ? || thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
                f"type, checkpoint, metadata FROM checkpoints WHERE thread_id IN ({marks})",
                (_prefix(k), *sample),
            )
            conn.execute(
                "INSERT INTO writes SELECT ? || thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, "
                f"channel, type, value FROM writes WHERE thread_id IN ({marks})",
                (_prefix(k), *sample),
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


def index_copies(store: Store, sample: list[str], rows: dict[str, list[RequestRow]], copies: range) -> None:
    """Index each copy's questions through `Inbox.index`: pending when paused, resumed when decided."""
    now = store.clock()
    for start in range(copies.start, copies.stop, 50):
        with store.transaction():
            for k in range(start, min(start + 50, copies.stop)):
                resumed = []
                for kind, kind_rows in rows.items():
                    for row in kind_rows:
                        payload = json.loads(json.dumps(row.payload))
                        payload["hitl"]["request_id"] = uuid.uuid4().hex
                        payload["hitl"]["action_id"] = uuid.uuid4().hex
                        store.inbox.index(_prefix(k) + row.thread_id, [(row.interrupt_id, "", payload)])
                        if kind == "approved":
                            resumed.append(
                                (
                                    row.decided_by,
                                    json.dumps(row.decision),
                                    now,
                                    now,
                                    payload["hitl"]["request_id"],
                                )
                            )
                store.backend.executemany(
                    "UPDATE hitl_requests SET status = 'resumed', decided_by = ?, decision = ?, decided_at = ?, "
                    "resumed_at = ? WHERE request_id = ?",
                    resumed,
                )
                store.backend.executemany(
                    "INSERT INTO hitl_threads (thread_id, state, graph, updated_at) VALUES (?, 'idle', '', ?)",
                    [(_prefix(k) + t, now) for t in sample],
                )


def scan_page(hitl: Approvals) -> tuple[int, list[Any]]:
    """The best public method: scan every checkpoint, then get_state for the first page."""
    saver = hitl.graph.checkpointer
    seen: set[str] = set()
    paused: list[str] = []
    for tup in saver.list(None):
        tid = tup.config["configurable"]["thread_id"]
        if tid in seen:
            continue
        seen.add(tid)  # checkpoints come newest first, so this is the thread's head
        if any(w[1] == "__interrupt__" for w in tup.pending_writes or ()):
            paused.append(tid)
    page = []
    for tid in paused[:PAGE]:
        page.extend(hitl.graph.get_state({"configurable": {"thread_id": tid}}).interrupts)
    return len(paused), page


def measure_lists(runners: dict[int, Approvals], *, lists: int) -> dict[int, list[float]]:
    """Time the first page `lists` times per size, round-robin, so machine load hits every size alike."""
    for threads, hitl in runners.items():
        assert hitl.store.inbox.count_pending() == threads // 10, (hitl.store.inbox.count_pending(), threads)
        page = hitl.pending(limit=PAGE)  # warm the connection and the page cache
        assert len(page.items) == PAGE and page.next_cursor
    times: dict[int, list[float]] = {t: [] for t in runners}
    for _ in range(lists):
        for threads, hitl in runners.items():
            started = time.perf_counter()
            page = hitl.pending(limit=PAGE)
            times[threads].append(time.perf_counter() - started)
            assert len(page.items) == PAGE
    return times


def thread_plan(hitl: Approvals, thread_id: str) -> str:
    """SQLite's plan for `pending(thread_id=...)`'s query: it must search an index, never scan."""
    rows = hitl.store.backend.execute(
        "EXPLAIN QUERY PLAN SELECT request_id FROM hitl_requests WHERE status = 'pending' AND thread_id = ? "
        "ORDER BY seq DESC LIMIT 51",
        (thread_id,),
    )
    plan = " / ".join(str(r["detail"]) for r in rows)
    assert "SCAN hitl_requests" not in plan, plan
    return plan


def measure_by_thread(runners: dict[int, Approvals], *, lists: int) -> dict[int, list[float]]:
    """Time `pending(thread_id=...)` for one paused thread per size (a different one each time,
    from the newest copy to the oldest), round-robin like the first page."""
    times: dict[int, list[float]] = {t: [] for t in runners}
    for i in range(lists):
        for threads, hitl in runners.items():
            copies = threads // sum(SAMPLE.values())
            thread_id = _prefix(copies - 1 - i % (copies - 1)) + f"s-paused-{i % SAMPLE['paused']}"
            started = time.perf_counter()
            page = hitl.pending(thread_id=thread_id)
            times[threads].append(time.perf_counter() - started)
            assert [r.thread_id for r in page.items] == [thread_id], (thread_id, page.items)
    return times


def measure_filtered(runners: dict[int, Approvals], *, lists: int) -> dict[int, dict[str, list[float]]]:
    """Time the first page filtered by approver and by risk, and the page after the first (by
    cursor), round-robin like the first page; each must come back full."""
    times: dict[int, dict[str, list[float]]] = {t: {"approver": [], "risk": [], "next": []} for t in runners}
    cursors = {t: hitl.pending(limit=PAGE).next_cursor for t, hitl in runners.items()}
    calls = {
        "approver": lambda hitl, t: hitl.pending(approver="alice", limit=PAGE),
        "risk": lambda hitl, t: hitl.pending(risk="high", limit=PAGE),
        "next": lambda hitl, t: hitl.pending(limit=PAGE, cursor=cursors[t]),
    }
    for _ in range(lists):
        for threads, hitl in runners.items():
            for name, call in calls.items():
                started = time.perf_counter()
                page = call(hitl, threads)
                times[threads][name].append(time.perf_counter() - started)
                assert len(page.items) == PAGE, (name, threads, len(page.items))
    return times


def measure_scan(hitl: Approvals, threads: int, *, scans: int) -> list[float]:
    """Time the scan `scans` times; check that it finds every paused thread."""
    out = []
    for _ in range(scans):
        started = time.perf_counter()
        found, page_items = scan_page(hitl)
        out.append(time.perf_counter() - started)
        assert found == threads // 10 and len(page_items) == PAGE, (found, len(page_items))
    return out


def _db_mb(path: Path) -> float:
    return round(sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p)) / 1e6, 1)


def build(tmp: Path, sizes: list[int]) -> tuple[dict[int, Path], dict[str, float]]:
    """One database file per size: grow the main file, snapshot it (VACUUM INTO), grow on."""
    per_copy = sum(SAMPLE.values())
    main_db = tmp / "inbox.db"
    url = f"sqlite:///{main_db}"
    files: dict[int, Path] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with Approvals.open(approval_graph(), url) as hitl:
        kinds = build_sample(hitl)
        rows = {
            kind: [hitl.store.inbox.by_thread(t)[0] for t in kinds[kind]] for kind in ("paused", "approved")
        }
    sample = [t for ts in kinds.values() for t in ts]
    timings["sample"] = round(time.perf_counter() - started, 2)
    copies = 1
    for size in sorted(sizes):
        target = max(1, size // per_copy)
        started = time.perf_counter()
        copy_checkpoints(main_db, sample, range(copies, target))
        with open_store(url) as store:
            index_copies(store, sample, rows, range(copies, target))
            store.backend.execute("ANALYZE")
            store.backend.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            copies = max(copies, target)
            if size == max(sizes):
                files[copies * per_copy] = main_db
            else:
                snap = tmp / f"inbox-{size}.db"
                store.backend.execute("VACUUM INTO ?", (str(snap),))
                files[copies * per_copy] = snap
        timings[f"grow_to_{size}"] = round(time.perf_counter() - started, 2)
    os.sync()  # let the kernel write the freshly built files out before anything is timed
    return files, timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--scan-sizes", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--lists", type=int, default=300, help="timed first-page listings per size")
    parser.add_argument("--scans", type=int, default=3, help="timed scans per size")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the database files go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"method": __doc__.split("\n\n")[2].replace("\n", " "), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="hitl-inbox-", dir=args.dir) as tmp:
        files, results["build_s"] = build(Path(tmp), args.sizes)
        with ExitStack() as stack:
            runners = {
                n: stack.enter_context(Approvals.open(approval_graph(), f"sqlite:///{path}"))
                for n, path in sorted(files.items())
            }
            lists = measure_lists(runners, lists=args.lists)
            by_thread = measure_by_thread(runners, lists=args.lists)
            filtered = measure_filtered(runners, lists=args.lists)
            for n, hitl in runners.items():
                res: dict[str, Any] = {
                    "threads": n,
                    "paused": n // 10,
                    "db_mb": _db_mb(files[n]),
                    "inbox_first_page_ms": round(statistics.median(lists[n]) * 1000, 3),
                    "inbox_first_page_p95_ms": round(
                        sorted(lists[n])[int(len(lists[n]) * 0.95) - 1] * 1000, 3
                    ),
                    "by_thread_ms": round(statistics.median(by_thread[n]) * 1000, 3),
                    **{
                        f"{name}_page_ms": round(statistics.median(ts) * 1000, 3)
                        for name, ts in filtered[n].items()
                    },
                    "by_thread_plan": thread_plan(hitl, _prefix(1) + "s-paused-0"),
                }
                if n in args.scan_sizes:
                    scans = measure_scan(hitl, n, scans=args.scans)
                    res["scan_first_page_ms"] = round(statistics.median(scans) * 1000, 1)
                    res["scan_each_ms"] = [round(t * 1000, 1) for t in scans]
                    res["speedup_vs_scan"] = round(statistics.median(scans) / statistics.median(lists[n]))
                results["sizes"][str(n)] = res
                print(json.dumps(res), file=sys.stderr, flush=True)
    small, big = min(files), max(files)
    results["growth_small_to_big"] = round(statistics.median(lists[big]) / statistics.median(lists[small]), 2)
    results["by_thread_growth_small_to_big"] = round(
        statistics.median(by_thread[big]) / statistics.median(by_thread[small]), 2
    )
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
