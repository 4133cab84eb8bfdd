"""What the halt banner costs the web inbox: the inbox page with no halt, and with halts on.

Every page a signed-in person sees reads the active halts (one indexed query through the
runner) to draw the banner and mark the requests they cover. This serves the inbox page
(`GET /`, 25 pending requests) through Starlette's TestClient on a SQLite file, `--requests`
times each with 0, 1 and 5 active halts, and prints one JSON object of median and p90
milliseconds per page.

    python benchmarks/bench_web_oversight.py [--requests 200]

Nothing is asserted: the figures go into the report.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import oversight_worker  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from langgraph_hitl.web import create_app  # noqa: E402

TOKENS = {"alice": "alice-token-7f3c0a9b2e"}


def _timings(client: TestClient, count: int) -> dict[str, float]:
    spent = []
    for _ in range(count):
        start = time.perf_counter()
        assert client.get("/").status_code == 200
        spent.append((time.perf_counter() - start) * 1000)
    spent.sort()
    return {"median_ms": round(statistics.median(spent), 2), "p90_ms": round(spent[int(len(spent) * 0.9)], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    count = parser.parse_args().requests
    out: dict[str, Any] = {"requests": count, "pending": 25}
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            db=f"sqlite:///{folder}/hitl.db",
            graph=oversight_worker.builder(),
            approvers=TOKENS,
            secret_key="bench-secret-0123456789abcdef",
            operators={"alice"},
        )
        with TestClient(app) as client:
            hitl = app.state.approvals
            for i in range(25):
                hitl.start(f"t{i}", {"action": {"name": "delete_record", "args": {"id": i}}})
            page = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"token": TOKENS["alice"], "csrf": csrf})
            client.get("/")
            out["no_halt"] = _timings(client, count)
            hitl.halt("action:delete_record", reason="bench", actor="alice")
            out["one_halt"] = _timings(client, count)
            for name in ("a", "b", "c", "d"):
                hitl.halt(f"action:other_{name}", reason="bench", actor="alice")
            out["five_halts"] = _timings(client, count)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
