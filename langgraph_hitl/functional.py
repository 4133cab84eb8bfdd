"""Approvals inside LangGraph's functional API (`@entrypoint` / `@task`).

The approval flow is the same graph `add_approval_flow` wires (gate, review, second review,
execute, audit), compiled on its own; called from an entrypoint it runs as a subgraph of it,
so it pauses with `interrupt()`, resumes with `Command(resume=...)`, keeps its receipts and
audit trail, and runs the handler at most once through the ledger, exactly as in a graph.

Example:
    ```python
    from langgraph.func import entrypoint
    from langgraph_hitl import Policy
    from langgraph_hitl.functional import approval_flow, request_approval

    DELETE = approval_flow(Policy({"delete_record": "irreversible_high"}), {"delete_record": delete_record})

    @entrypoint(checkpointer=saver)
    def cleanup(customer_id: int) -> dict:
        outcome = request_approval(DELETE, {"name": "delete_record", "args": {"id": customer_id}})
        return {"deleted": outcome["status"] == "executed", "result": outcome["result"]}
    ```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .nodes.handlers import HandlerLike
from .policy import Policy

__all__ = ["approval_flow", "request_approval"]

_OUTCOME_KEYS = ("status", "result", "review_message", "action", "action_id", "decisions", "assessment")


def approval_flow(
    policy: Policy,
    handlers: Mapping[str, HandlerLike],
    *,
    approvers: Sequence[str] | None = None,
    second_approvers: Sequence[str] | None = None,
    store: Any = None,
    requested_by: str = "agent",
    trust_answer_identity: bool = False,
    state_schema: Any = None,
) -> Any:
    """The approval flow as a compiled graph of its own, to call from `@entrypoint` / `@task` code.

    Compile it once, at import time, and call it with `request_approval` (or `.invoke({"action":
    ...})`, also from a node of a `StateGraph`). It has no checkpointer of its own: it uses the
    caller's, as a subgraph does. The arguments are `add_approval_flow`'s, and `state_schema`
    (default `HITLState`; `HITLModel` or `HITLDataclass` subclasses work too).

    Raises:
        PolicyError: As `add_approval_flow` (e.g. a policy action without a handler).
    """
    from langgraph.graph import END, START, StateGraph

    from .nodes.flow import add_approval_flow
    from .nodes.state import HITLState

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(state_schema or HITLState)
    builder.add_node("propose", _propose)
    builder.add_edge(START, "propose")
    add_approval_flow(
        builder,
        source="propose",
        target=END,
        policy=policy,
        handlers=handlers,
        approvers=approvers,
        second_approvers=second_approvers,
        store=store,
        requested_by=requested_by,
        trust_answer_identity=trust_answer_identity,
    )
    return builder.compile(name="approval")


def _propose(state: Any) -> dict[str, Any]:
    """The flow's input already holds the action: nothing to add."""
    return {}


def request_approval(
    flow: Any,
    action: Mapping[str, Any],
    *,
    hitl_context: Mapping[str, Any] | None = None,
    requested_by: str | None = None,
    confidence: float | None = None,
) -> dict[str, Any]:
    """Ask for approval of `action` from inside an entrypoint or task, and run it if approved.

    Pauses the entrypoint (an `interrupt()`) while a person decides; on resume it returns what
    happened. Call it at the same place on every run of the entrypoint: LangGraph matches a
    resumed subgraph call by its position.

    Args:
        flow: From `approval_flow(...)`.
        action: `{"name": ..., "args": {...}}` (and an optional `description`).
        hitl_context: What a reviewer should know (task, step, ...), shown with the request.
        requested_by: Who proposes the action (never allowed to approve it).
        confidence: The model's confidence, for the policy's confidence bands.

    Returns:
        `status` (`executed`, `rejected`, `responded`, `denied`, `failed`, `timed_out`),
        `result` (the handler's), `review_message`, `action` (as approved, after any edit),
        `action_id`, `decisions` and `assessment`.
    """
    update: dict[str, Any] = {"action": dict(action)}
    if hitl_context is not None:
        update["hitl_context"] = dict(hitl_context)
    if requested_by is not None:
        update["requested_by"] = requested_by
    if confidence is not None:
        update["confidence"] = confidence
    out = flow.invoke(update)
    return {key: out.get(key) for key in _OUTCOME_KEYS}
