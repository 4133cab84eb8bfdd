"""`policy backtest` over a large audit log: N recorded proposals replayed through a candidate.

Writes N proposals (as `ClassifyAndGateNode` records them, assessed by the README's policy)
and a person's decision on each gated one into a SQLite audit log in a temp dir, then times
`store.backtest.backtest` with `examples/policy.toml` loosened (deletes made auto, without their phrase) as the
candidate, and prints one JSON object to stdout:

    python benchmarks/bench_backtest.py --proposals 100000

The target (issue 17): 100,000 proposals in under 30 seconds on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph_hitl import Policy
from langgraph_hitl.store import open_store
from langgraph_hitl.store.backtest import backtest

ROOT = Path(__file__).resolve().parent.parent


def history(policy: Policy, count: int, seed: int = 17) -> Iterator[dict[str, Any]]:
    """`count` proposals over 30 days, assessed by `policy`, with a decision on each gated one."""
    rng = random.Random(seed)
    names = ["search", "update_record", "send_email", "delete_record", "refund"]
    for i in range(count):
        name = rng.choice(names)
        args = {
            "id": i,
            "env": rng.choice(["prod", "dev", "dev"]),
            "to": [f"u{j}@x.org" for j in range(rng.randint(1, 8))],
        }
        confidence = round(rng.random(), 2) if name == "send_email" else None
        a = policy.assess({"name": name, "args": args}, confidence=confidence)
        ts = f"2026-11-{1 + (i * 30) // count:02d}T{i % 24:02d}:{i % 60:02d}:00.000000+00:00"
        common = {"thread_id": f"t{i}", "action_id": f"a{i:012d}", "action": name, "args": args, "ts": ts}
        common |= {"risk": a["risk"], "reversibility": a["reversibility"], "policy_version": policy.version}
        detail: dict[str, Any] = {
            "mode": a["mode"],
            "reasons": a["reasons"],
            "required_approvals": a["required_approvals"],
        }
        if confidence is not None:
            detail["confidence"] = confidence
        yield {**common, "event_id": f"p{i}", "event": "proposed", "actor": "agent", "detail": detail}
        if a["mode"] in ("soft", "hard", "verify"):
            who = rng.choice(a["approvers"] or ["alice", "bob", "carol"])
            what = rng.choices(["approved", "rejected", "edited"], [8, 1, 1])[0]
            yield {**common, "event_id": f"d{i}", "event": what, "actor": who, "request_id": f"r{i}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=100_000)
    parser.add_argument(
        "--keep", metavar="DIR", help="Write the database and the candidate here and keep them."
    )
    args = parser.parse_args()
    recorded = Policy.from_file(ROOT / "examples" / "policy.toml")
    text = (ROOT / "examples" / "policy.toml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        candidate_path = Path(tmp) / "candidate.toml"
        loose = text.replace('delete_record = "irreversible_high"', 'delete_record = "fully_reversible"')
        loose = loose.replace('delete_record = "DELETE {id}"', "")
        candidate_path.write_text(
            loose.replace('version = "2026-11"', 'version = "2026-12"'), encoding="utf-8"
        )
        candidate = Policy.from_file(candidate_path)
        with open_store(f"sqlite:///{Path(tmp) / 'audit.db'}") as store:
            started = time.perf_counter()
            batch: list[dict[str, Any]] = []
            for event in history(recorded, args.proposals):
                batch.append(event)
                if len(batch) >= 5000:
                    store.audit.append(batch)  # type: ignore[arg-type]
                    batch = []
            store.audit.append(batch)  # type: ignore[arg-type]
            written = time.perf_counter() - started
            started = time.perf_counter()
            report = backtest(store.backend, candidate)
            seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "backtest",
                "proposals": args.proposals,
                "replayed": report["replayed"],
                "looser": report["changes"]["looser"],
                "overruled": len(report["overruled"]),
                "write_seconds": round(written, 2),
                "backtest_seconds": round(seconds, 2),
                "proposals_per_second": round(args.proposals / seconds),
                "target_seconds": 30,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
