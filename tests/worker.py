"""A worker process for cross-process, race and crash tests: `python tests/worker.py DB_URL COMMAND ...`.

Commands:
  start THREAD ACTION JSON_ARGS      start a run; print the pending request ids as JSON
  decide REQUEST TYPE APPROVER       decide one request; print the outcome as JSON
  race APPROVER REQUEST...           try to approve every request; print wins and losses as JSON
  recover                            recover(older_than=0); print the report as JSON
Env: HITL_LEASE_S (the runner's lease), HITL_UNKEYED_HANDLERS, HITL_HANDLER_SLEEP, HITL_KILL_IN_HANDLER.
  crash-at POINT REQUEST APPROVER    decide, but SIGKILL this process at POINT:
                                     before_claim | after_claim | after_resume (in_handler: env HITL_KILL_IN_HANDLER)
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langgraph_hitl import Approvals, HITLError  # noqa: E402
from langgraph_hitl.approvals.core import _Core  # noqa: E402
from langgraph_hitl.store.inbox import Inbox  # noqa: E402

from graphs import build  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    url, command, *rest = argv
    if command == "crash-at":
        point = rest[0]
        if point == "before_claim":
            Inbox.claim = lambda *a, **k: die()  # type: ignore[method-assign]
        elif point == "after_claim":
            original = _Core._claim

            def claim_then_die(self, *a, **k):  # type: ignore[no-untyped-def]
                original(self, *a, **k)
                die()

            _Core._claim = claim_then_die  # type: ignore[method-assign]
        elif point == "after_resume":
            original_index = _Core._index_state

            def index_or_die(self, thread_id, state, *, resumed=None, expired=False):  # type: ignore[no-untyped-def]
                if resumed is not None:
                    die()
                return original_index(self, thread_id, state, resumed=resumed, expired=expired)

            _Core._index_state = index_or_die  # type: ignore[method-assign]
        command, rest = "decide", [rest[1], "approve", rest[2]]
    lease_s = float(os.environ.get("HITL_LEASE_S", "30"))
    with Approvals.open(build(), url, lease_s=lease_s) as hitl:
        if command == "start":
            thread, name, args = rest
            run = hitl.start(thread, {"action": {"name": name, "args": json.loads(args)}})
            print(json.dumps([p.request_id for p in run.pending]))
        elif command == "decide":
            rid, kind, approver = rest
            run = hitl.decide(rid, {"type": kind}, approver=approver)
            print(json.dumps({"status": run.values.get("status")}))
        elif command == "race":
            approver, *rids = rest
            wins, losses = [], {}
            for rid in rids:
                try:
                    hitl.decide(rid, {"type": "approve"}, approver=approver)
                    wins.append(rid)
                except HITLError as exc:
                    losses[rid] = type(exc).__name__
            print(json.dumps({"wins": wins, "losses": losses}))
        elif command == "recover":
            report = hitl.recover(older_than=0)
            print(json.dumps(report.__dict__))
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
