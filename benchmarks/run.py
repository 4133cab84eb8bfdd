"""Run every benchmark, write benchmarks/results.json and the results table in benchmarks/README.md.

    make bench                                  # everything (about 7 minutes on 2 cores)
    python benchmarks/run.py --quick            # small sizes: a smoke run, README left alone
    python benchmarks/run.py --only gate pause  # some of them
    python benchmarks/run.py --render           # rewrite the README table from results.json

Each benchmark runs as its own process and prints JSON; a missing script is recorded as
"missing", a failing one as "failed" with the end of its stderr. Every figure is a ratio
against a baseline measured side by side in the same process, medians over repeats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
RESULTS = HERE / "results.json"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PACKAGES = (
    "langgraph-hitl",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
    "langchain-core",
    "pydantic",
    "psycopg",
    "typer",
)


def _benchmarks(quick: bool) -> dict[str, list[str]]:
    """Name -> the command line (script relative to benchmarks/, then its arguments)."""
    q = ["--quick"] if quick else []
    return {
        "gate": ["bench_core.py", "gate", *q],
        "pause": ["bench_core.py", "pause", *q],
        "inbox": [
            "bench_inbox.py",
            *(
                ["--sizes", "1000", "10000", "--scan-sizes", "1000", "--lists", "50", "--scans", "1"]
                if quick
                else []
            ),
        ],
        "workers": (
            ["bench_workers.py", *(["--requests", "30", "--workers", "1,2"] if quick else [])]
            if (HERE / "bench_workers.py").exists()
            else ["bench_core.py", "concurrent", *q]
        ),
        "cli": ["bench_cli.py", *(["--runs", "3"] if quick else [])],
        "audit": ["bench_audit.py", "--events", "20000" if quick else "1000000"],
        "commits": ["bench_commits.py", "--decisions", "5" if quick else "20"],
    }


TIMEOUTS = {
    "gate": 300,
    "pause": 300,
    "inbox": 1800,
    "workers": 600,
    "cli": 300,
    "audit": 600,
    "commits": 300,
}


def run_one(name: str, argv: list[str]) -> dict[str, Any]:
    """Run one benchmark script; its last stdout JSON object is the result."""
    script = HERE / argv[0]
    if not script.exists():
        return {"status": "missing", "command": " ".join(["python", f"benchmarks/{argv[0]}", *argv[1:]])}
    command = [sys.executable, str(script), *argv[1:]]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "LANGSMITH_TRACING": "false",
    }
    started = time.perf_counter()
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUTS[name]
        )
    except subprocess.TimeoutExpired as exc:
        return {"status": "timeout", "seconds": TIMEOUTS[name], "stderr_tail": str(exc.stderr or "")[-2000:]}
    out: dict[str, Any] = {
        "command": " ".join(["python", f"benchmarks/{argv[0]}", *argv[1:]]),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
    }
    if proc.returncode != 0:
        return {**out, "status": "failed", "returncode": proc.returncode, "stderr_tail": proc.stderr[-3000:]}
    try:
        out["result"] = _last_json(proc.stdout)
    except ValueError:
        return {**out, "status": "failed", "stderr_tail": (proc.stdout + proc.stderr)[-3000:]}
    out["status"] = "ok"
    return out


def _last_json(text: str) -> Any:
    start = text.find("{")
    if start < 0:
        msg = "no JSON object in the output"
        raise ValueError(msg)
    return json.loads(text[start:])


def profile_if_over(results: dict[str, Any]) -> None:
    """When start or decide misses its target, record where the time goes (cProfile, our code)."""
    pause = results.get("pause", {}).get("result", {}).get("pause", {})
    over = [
        k
        for k in ("start", "decide")
        if pause.get(k, {}).get("ratio", 0) > pause.get(k, {}).get("target", 99)
    ]
    if not over:
        return
    proc = subprocess.run(
        [sys.executable, str(HERE / "bench_core.py"), "profile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    results["pause"]["profile"] = proc.stdout[-12_000:] if proc.returncode == 0 else proc.stderr[-2000:]


def machine() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "commit": commit,
    }


# -- the Markdown table -----------------------------------------------------------------------------


def _get(d: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(d, dict) and key in d:
            d = d[key]
        elif isinstance(d, list) and isinstance(key, int) and -len(d) <= key < len(d):
            d = d[key]
        else:
            return default
    return d


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**NO**")


def _num(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = round(value, digits)
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(measure, baseline, langgraph-hitl, figure, target, met) for every figure."""
    out: list[tuple[str, str, str, str, str, str]] = []

    def absent(name: str, what: str) -> None:
        entry = results.get(name, {})
        out.append(
            (
                what,
                "",
                "",
                entry.get("status", "not run"),
                "",
                "**NO**" if entry.get("status") in ("failed", "timeout") else "—",
            )
        )

    gate = _get(results, "gate", "result", "gate")
    if gate:
        out.append(
            (
                f"Gate: {gate['actions']:,} auto-approved actions, SQLite",
                f"pass-through node {_num(gate['baseline_ms_per_action'], ' ms')}",
                f"ClassifyAndGateNode {_num(gate['subject_ms_per_action'], ' ms')}",
                f"{gate['ratio']}x",
                f"≤ {gate['target']}x",
                _mark(gate["ratio"] <= gate["target"]),
            )
        )
    else:
        absent("gate", "Gate overhead")
    pause = _get(results, "pause", "result", "pause")
    if pause:
        for key, what, base, subj in (
            ("start", "Pause: run until the question", "raw `invoke` → `__interrupt__`", "`Approvals.start`"),
            ("decide", "Decide: resume to completion", "raw `Command(resume=...)`", "`Approvals.decide`"),
            (
                "decide_vs_raw_with_store",
                "Decide, runner alone (info)",
                "raw resume, nodes given the store",
                "`Approvals.decide`",
            ),
        ):
            r = pause[key]
            target = r.get("target")
            out.append(
                (
                    what,
                    f"{base} {_num(r['baseline_ms'], ' ms')}",
                    f"{subj} {_num(r['subject_ms'], ' ms')}",
                    f"{r['ratio']}x",
                    f"≤ {target}x" if target else "—",
                    _mark(r["ratio"] <= target) if target else "—",
                )
            )
    else:
        absent("pause", "Pause and decide")
    commits = _get(results, "commits", "result")
    if commits:
        out.append(
            (
                "Commits per decision (SQLite, counted per connection)",
                f"LangGraph's checkpoint writes {_num(commits['langgraph_per_decision'])}",
                f"langgraph-hitl's own {_num(commits['ours_per_decision'])}",
                f"{_num(commits['ours_per_decision'])}",
                "≤ 2",
                _mark(commits["ours_per_decision"] <= 2),
            )
        )
    inbox = _get(results, "inbox", "result", "sizes")
    if inbox:
        for size, r in sorted(inbox.items(), key=lambda kv: int(kv[0])):
            n = int(size)
            scan = r.get("scan_first_page_ms")
            speed = r.get("speedup_vs_scan")
            target, met = "—", None
            if n >= 100_000:
                target, met = "≤ 5 ms", r["inbox_first_page_ms"] <= 5
            elif n == 10_000:
                target, met = "≥ 300x faster", (speed >= 300) if speed is not None else None
            out.append(
                (
                    f"Inbox: first page of 50, {n:,} threads ({r['paused']:,} paused)",
                    f"scan `saver.list(None)` + `get_state` {_num(scan, ' ms', 1)}"
                    if scan
                    else "scan not run",
                    f"`pending()` {_num(r['inbox_first_page_ms'], ' ms', 3)}",
                    f"{speed:,}x faster" if speed else f"{_num(r['inbox_first_page_ms'], ' ms', 3)}",
                    target,
                    _mark(met),
                )
            )
        for size, r in sorted(inbox.items(), key=lambda kv: int(kv[0])):
            if "by_thread_ms" not in r:
                continue
            n = int(size)
            out.append(
                (
                    f"Inbox: one thread's requests, {n:,} threads",
                    f"first page {_num(r['inbox_first_page_ms'], ' ms', 3)}",
                    f"`pending(thread_id=)` {_num(r['by_thread_ms'], ' ms', 3)}",
                    "index search" if "USING INDEX" in r.get("by_thread_plan", "") else "scan",
                    "≤ 5 ms, index" if n >= 100_000 else "—",
                    _mark(r["by_thread_ms"] <= 5 and "USING INDEX" in r.get("by_thread_plan", ""))
                    if n >= 100_000
                    else "—",
                )
            )
        growth = _get(results, "inbox", "result", "growth_small_to_big")
        out.append(
            (
                "Inbox: growth from the smallest to the largest size",
                "",
                "",
                f"{growth}x",
                "≤ 2x",
                _mark(growth is not None and growth <= 2),
            )
        )
    else:
        absent("inbox", "Inbox scaling")
    workers = _get(results, "workers", "result")
    if workers and "results" in workers:  # benchmarks/bench_workers.py
        for backend, runs in workers["results"].items():
            base = next((r["decisions_per_s"] for r in runs if r["workers"] == 1), None)
            for r in runs:
                scale = f" ({r['decisions_per_s'] / base:.2f}x of 1)" if base else ""
                ok = r["double_decisions"] == 0 and r["database_locked"] == 0 and not r.get("errors")
                out.append(
                    (
                        f"Concurrent decisions, {backend}, {r['workers']} process(es)",
                        "",
                        f"{_num(r['decisions_per_s'])} decisions/s{scale}",
                        f"double decisions {r['double_decisions']}, locked {r['database_locked']}",
                        "0 and 0",
                        _mark(ok),
                    )
                )
    elif workers and "runs" in workers:  # the fallback in bench_core.py
        for r in workers["runs"].values():
            ok = r["double_decisions"] == 0 and r["locked_errors"] == 0 and r["other_errors"] == 0
            out.append(
                (
                    f"Concurrent decisions, sqlite, {r['processes']} process(es)",
                    "",
                    f"{_num(r['decisions_per_s'])} decisions/s ({r['speedup_vs_1']}x of 1)",
                    f"double decisions {r['double_decisions']}, locked {r['locked_errors']}",
                    "0 and 0",
                    _mark(ok),
                )
            )
    else:
        absent("workers", "Concurrent decisions")
    cli = _get(results, "cli", "result")
    if cli and "median_wall_ms" in cli:
        wall = cli["median_wall_ms"]
        pending = wall.get("langgraph-hitl pending")
        lg = wall.get("python -c 'import langgraph.graph'")
        target = cli.get("target_ms", 200)
        out.append(
            (
                "CLI cold start: `langgraph-hitl pending`",
                f"`import langgraph.graph` {_num(lg, ' ms', 1)}",
                f"{_num(pending, ' ms', 1)}",
                f"{pending / lg:.2f}x" if pending and lg else "n/a",
                f"≤ {target} ms",
                _mark(pending is not None and pending <= target),
            )
        )
    else:
        absent("cli", "CLI cold start")
    audit = _get(results, "audit", "result")
    if audit and "verify" in audit:
        batched, single, verify = (
            audit.get("append_batched", {}),
            audit.get("append_single", {}),
            audit["verify"],
        )
        out.append(
            (
                f"Audit: append {_num(batched.get('events'))} events in batches of {batched.get('batch')}",
                "",
                f"{_num(batched.get('events_per_s'))} events/s",
                "",
                "—",
                "—",
            )
        )
        out.append(
            (
                "Audit: append one event per transaction",
                "",
                f"{_num(single.get('events_per_s'))} events/s",
                "",
                "—",
                "—",
            )
        )
        events = verify.get("events") or 0
        judged = events >= 1_000_000  # below that, fixed costs dominate: no verdict
        out.append(
            (
                f"Audit: `verify()` over {_num(events)} events",
                "",
                f"{_num(verify.get('seconds'), ' s')}",
                f"{_num(verify.get('events_per_s'))} events/s",
                "≤ 5 s for 1M",
                _mark(bool(verify.get("ok")) and verify.get("seconds", 99) * 1_000_000 / events <= 5)
                if judged
                else "—",
            )
        )
    else:
        absent("audit", "Audit append and verify")
    return out


def table(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    lines = [
        f"Run {doc['date']} with `{doc['command']}` in {doc['seconds']:.0f} s "
        f"(commit {m['commit'] or '?'}; load average {doc['load_average_1m'][0]} → {doc['load_average_1m'][1]}).",
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}, {m['platform']}.",
        f"Packages: {pkgs}.",
        "",
        "| Measure | Baseline | langgraph-hitl | Figure | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    found = rows(doc["results"])
    lines += ["| " + " | ".join(r) + " |" for r in found]
    missed = [r[0] for r in found if r[5] == "**NO**"]
    lines += ["", "Targets missed in this run: " + ("; ".join(missed) if missed else "none") + "."]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    doc = README.read_text()
    if START not in doc or END not in doc:
        doc += f"\n## Results\n\n{START}\n{END}\n"
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes; results.json and README are not written"
    )
    parser.add_argument(
        "--only", nargs="+", help="run only these benchmarks (results.json and README untouched)"
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the README table from results.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        write_readme(table(json.loads(RESULTS.read_text())))
        return 0
    benches = _benchmarks(args.quick)
    names = args.only or list(benches)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for name in names:
        print(f"[bench] {name}: {' '.join(benches[name])}", file=sys.stderr, flush=True)
        results[name] = run_one(name, benches[name])
        print(
            f"[bench] {name}: {results[name]['status']} in {results[name].get('seconds', 0)} s",
            file=sys.stderr,
            flush=True,
        )
        if results[name]["status"] in ("failed", "timeout"):
            print(results[name].get("stderr_tail", ""), file=sys.stderr)
    if "pause" in results:
        profile_if_over(results)
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench"
        if not (args.quick or args.only)
        else " ".join(["python benchmarks/run.py", *(argv or sys.argv[1:])]),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
        "machine": machine(),
        "results": results,
    }
    text = table(doc)
    print(text)
    if args.quick or args.only:
        return 0
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    write_readme(text)
    print(
        f"[bench] wrote {RESULTS.relative_to(ROOT)} and the table in {README.relative_to(ROOT)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
