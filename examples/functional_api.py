"""Approvals in LangGraph's functional API: `@entrypoint` code that asks a person before deleting.

    python examples/functional_api.py

`approval_flow(...)` compiles the same approval flow `add_approval_flow` wires into a graph;
`request_approval(flow, action)` calls it from the entrypoint, where it runs as a subgraph:
it pauses with `interrupt()`, the run resumes with `Command(resume=...)` (here as alice,
authenticated through the run's config), and the handler runs at most once. Offline, no key.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langgraph.func import entrypoint
from langgraph.types import Command

from langgraph_hitl import Policy, open_checkpointer
from langgraph_hitl.functional import approval_flow, request_approval
from langgraph_hitl.testing import authenticated

CUSTOMERS = {4821: "Ada Lovelace"}


def delete_customer(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    name = CUSTOMERS.pop(args["id"], None)
    return {"deleted": args["id"], "name": name}


DELETE = approval_flow(
    Policy({"delete_customer": "irreversible_high"}, verify_phrases={"delete_customer": "DELETE {id}"}),
    {"delete_customer": delete_customer},
)


def close_account(customer: int) -> dict[str, Any]:
    """The workflow: plain Python, with one approval in the middle."""
    outcome = request_approval(
        DELETE,
        {"name": "delete_customer", "args": {"id": customer}},
        hitl_context={"task": "close the account"},
    )
    return {"closed": outcome["status"] == "executed", "result": outcome["result"]}


def main() -> None:
    with open_checkpointer(f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}") as saver:
        workflow = entrypoint(checkpointer=saver)(close_account)
        config = {"configurable": {"thread_id": "close-4821"}}
        out = workflow.invoke(4821, config)
        question = out["__interrupt__"][0].value
        print(
            f"paused: {question['action_requests'][0]['description']}; type {question['hitl']['verify_phrase']!r}"
        )
        out = workflow.invoke(
            Command(resume={"type": "approve", "verify": "DELETE 4821"}), authenticated(config, "alice")
        )
        print(f"done: {out}")


if __name__ == "__main__":
    main()
