"""A multi-stage approval pipeline with a revision loop: Draft -> Tone Review (manager) -> Finalize.

    draft ──> tone_review ──> review_tone_review ──> finalize ──> audit
                  ^                 │ revise (with the manager's instructions)
                  └─────────────────┘            reject -> stops, saying where

The draft runs without review. The tone stage's output waits for the manager, who asks for
two revisions and then approves; only then does the email get finalized. A second email is
rejected and the pipeline reports the stage it stopped at. Everything goes through the
`Approvals` runner, so the requests are in a durable inbox (a SQLite file in a temp dir) and
every decision lands in the hash-chained audit log.

Offline, no API key: the "writer" is a deterministic stand-in for an LLM.

    python examples/email_pipeline.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langgraph_hitl import Approvals, AuthorizationError
from langgraph_hitl.patterns import Stage, create_approval_pipeline


def draft(brief: dict[str, str]) -> str:
    """Stage 1: write a first draft (an LLM call in real life)."""
    return f"hey all - {brief['news']}. ping me if anything breaks"


def tone_review(text: str, instructions: str | None) -> str:
    """Stage 2: rewrite for tone; on a re-run, follow the reviewer's instructions."""
    text = text.replace("hey all - ", "Hello team,\n\n").replace(". ping me if anything breaks", ".")
    if instructions and "formal" in instructions:
        text = text.replace("Hello team", "Dear colleagues")
    if instructions and "date" in instructions:
        text = text.replace(".", " on Friday 14 March.", 1)
    return text


def finalize(text: str) -> str:
    """Stage 3: add the signature (no approval needed)."""
    return f"{text}\n\nBest regards,\nThe Release Team"


def build() -> Any:
    return create_approval_pipeline(
        [
            Stage("draft", draft),
            Stage(
                "tone_review",
                tone_review,
                approvers=["manager"],
                timeout=24 * 3600,
                description="Is the tone right for an all-hands email?",
            ),
            Stage("finalize", finalize),
        ],
        max_revisions=3,
        task="Announce the v2 release to the company",
    )


def show(request: Any) -> None:
    hitl = request.payload["hitl"]
    ctx = hitl["context"]
    print(
        f"   waiting for {hitl['approvers']}: stage {ctx['step']} of {ctx['total_steps']} ({ctx['stage']}), "
        f"revision {ctx['revision']}"
    )
    for line in request.action["args"]["output"].splitlines():
        print(f"   | {line}")


def main() -> None:
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}"
    with Approvals.open(build(), url) as hitl:
        print("1. The draft runs; the tone stage waits for the manager")
        run = hitl.start("release-email", {"input": {"news": "v2 ships today"}})
        show(run.pending[0])

        print("\n2. Only the manager may decide")
        try:
            hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="intern")
        except AuthorizationError as exc:
            print(f"   intern -> refused: {exc}")

        print("\n3. The manager asks for a revision: the stage runs again and the new text is reviewed again")
        run = hitl.decide(
            run.pending[0].request_id,
            {"type": "revise", "message": "More formal, please."},
            approver="manager",
        )
        show(run.pending[0])
        run = hitl.decide(
            run.pending[0].request_id,
            {"type": "revise", "message": "And mention the date."},
            approver="manager",
        )
        show(run.pending[0])

        print("\n4. The manager approves; finalize runs")
        run = hitl.decide(run.pending[0].request_id, {"type": "approve"}, approver="manager")
        values = run.values
        print(f"   pipeline: {values['pipeline_status']}")
        for name, result in values["stage_results"].items():
            print(
                f"   stage {result['stage']} {name:<12} {result['status']:<9} revisions={result['revisions']}"
            )
        print("   final email:")
        for line in values["output"].splitlines():
            print(f"   | {line}")

        print("\n5. Another email is rejected: the pipeline stops and says where")
        run = hitl.start("pricing-email", {"input": {"news": "prices go up 40%"}})
        run = hitl.decide(
            run.pending[0].request_id,
            {"type": "reject", "message": "Legal must see this first."},
            approver="manager",
        )
        print(f"   pipeline: {run.values['pipeline_status']}, stopped at {run.values['stopped_at']}")

        print("\n6. The audit log (hash-chained) for the first email")
        for row in hitl.store.audit.query(thread_id="release-email"):
            print(f"   {row['event']:<19} by {row['actor']:<8} {row['action']}")
        print(f"   chain verifies: {hitl.store.audit.verify().ok}")


if __name__ == "__main__":
    main()
