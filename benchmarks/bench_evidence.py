"""Evidence export and retention over N audit events: export (stored and digest arguments), the
standalone verifier (a child `python -I`), and a prune of the older half with `verify()` after it.

Runs on a SQLite file in a temp dir and prints one JSON object to stdout:

    python benchmarks/bench_evidence.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langgraph_hitl.store import open_store
from langgraph_hitl.store.evidence import export_evidence
from langgraph_hitl.store.retention import prune

_EVENTS = ("proposed", "approved", "executed", "rejected", "timed_out")


def seed(url: str, n: int) -> None:
    """`n` events over 2026, a few hundred bytes each, appended in batches of 5,000."""
    with open_store(url) as store:
        for start in range(0, n, 5_000):
            store.audit.append(
                [
                    {
                        "event_id": f"e{i}",
                        "event": _EVENTS[i % len(_EVENTS)],
                        "actor": ("agent", "alice", "bob")[i % 3],
                        "ts": f"2026-{1 + i * 12 // n:02d}-01T00:00:00+00:00",
                        "thread_id": f"t{i // 5}",
                        "action": "send_email",
                        "args": {"to": f"user{i}@example.com", "subject": "Invoice", "n": i},
                        "detail": {"reason": "policy rule r1"},
                    }
                    for i in range(start, min(n, start + 5_000))
                ]
            )


def timed(fn: object) -> tuple[float, object]:
    began = time.perf_counter()
    value = fn()  # type: ignore[operator]
    return round(time.perf_counter() - began, 3), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    n = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'hitl.db'}"
        seed(url, n)
        out: dict[str, object] = {"events": n, "python": platform.python_version()}
        with open_store(url) as store:
            for mode in ("stored", "digest"):
                seconds, _ = timed(lambda m=mode: export_evidence(store, Path(tmp) / m, args=m))  # type: ignore[misc]
                out[f"export_{mode}_s"] = seconds
                size = sum(p.stat().st_size for p in (Path(tmp) / mode).iterdir())
                out[f"export_{mode}_mb"] = round(size / 1e6, 1)
                seconds, done = timed(
                    lambda m=mode: subprocess.run(  # type: ignore[misc]
                        [sys.executable, "-I", str(Path(tmp) / m / "verify_evidence.py"), str(Path(tmp) / m)],
                        capture_output=True,
                        check=False,
                    )
                )
                assert done.returncode == 0  # type: ignore[attr-defined]
                out[f"verify_script_{mode}_s"] = seconds
            seconds, _ = timed(lambda: prune(store, before="2026-07-01", archive=Path(tmp) / "archive"))
            out["prune_half_s"] = seconds
            seconds, result = timed(store.audit.verify)
            assert result.ok  # type: ignore[attr-defined]
            out["verify_after_prune_s"] = seconds
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
