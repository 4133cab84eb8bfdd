"""What `Approvals.reverse` and `Approvals.reversible` read: the graph's compensations and
policy, the executed action behind a request, and the window in which it is listed.

A compensation is found where its action's handler is: the `ExecuteNode`s of the runner's graph
(`Handler(do=..., undo=...)`); the policy is the first `ClassifyAndGateNode`'s. Graphs nested as
subgraph nodes are not searched: put the flow in the runner's graph to reverse its actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import HITLError
from ..nodes.execute import ExecuteNode
from ..nodes.gate import ClassifyAndGateNode
from ..policy import Policy
from ..store import Store
from ..types import RISKS

__all__ = [
    "REVERSE_PREFIX",
    "Executed",
    "ReversalError",
    "ReversibleAction",
    "compensation",
    "executed_action",
    "policy_of",
    "reversible_actions",
]

REVERSE_PREFIX = "reverse:"
"""A compensation's action name is `reverse:NAME`, and its ledger key `reverse:ACTION_ID`: the
policy gates it under that name (unlisted: a hard gate), halts of `action:NAME` cover it."""

_LISTED = ("fully_reversible", "partially_reversible")
"""The reversibility classes `reversible()` lists (an irreversible action has nothing to undo)."""


class ReversalError(HITLError, ValueError):
    """An action cannot be reversed: it has no compensation, was never executed, failed, or is
    itself a compensation. The message names the action and the fix."""


@dataclass(frozen=True)
class Executed:
    """An executed action, as the ledger and the audit log recorded it."""

    action_id: str
    name: str
    args: dict[str, Any]
    result: Any
    thread_id: str | None
    request_id: str | None
    reversibility: str | None
    risk: str | None
    policy_version: str | None
    executed_at: str
    digest: str | None
    """The digest the approvals' receipts are bound to (None for an auto-approved action)."""


@dataclass(frozen=True)
class ReversibleAction:
    """An executed action that may be reversed until `until` (`Approvals.reversible`)."""

    action_id: str
    action: str
    args: dict[str, Any]
    thread_id: str | None
    executed_at: str
    until: float
    """Epoch time the window closes (`Requirement(review_after_s=...)` after the execution)."""
    reversibility: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, with ISO 8601 times."""
        from .._canonical import iso

        return {**self.__dict__, "until": iso(self.until)}


def _functions(graph: Any) -> list[Any]:
    nodes = getattr(getattr(graph, "builder", None), "nodes", None) or {}
    return [getattr(getattr(spec, "runnable", None), "func", None) for spec in nodes.values()]


def compensation(graph: Any, name: str, action_id: str) -> Any:
    """The compensation of action `name`, from the graph's `ExecuteNode`s.

    Raises:
        ReversalError: None is registered, naming the action and how to register one.
    """
    for fn in _functions(graph):
        if isinstance(fn, ExecuteNode) and name in fn.compensations:
            return fn.compensations[name]
    msg = (
        f"Action {name!r} (action id {action_id}) has no compensation, so it cannot be reversed. Register "
        f"one with its handler: handlers={{{name!r}: Handler(do=..., undo=...)}} "
        "(`from langgraph_hitl.nodes.handlers import Handler`) in the graph's ExecuteNode or add_approval_flow."
    )
    raise ReversalError(msg)


def compensations(graph: Any) -> set[str]:
    """The action names with a compensation in the graph."""
    return {n for fn in _functions(graph) if isinstance(fn, ExecuteNode) for n in fn.compensations}


def policy_of(graph: Any) -> Policy:
    """The graph's policy (its first gate's); without a gate, the default policy (reversals are then
    unknown actions: hard-gated, one approval by anyone)."""
    for fn in _functions(graph):
        if isinstance(fn, ClassifyAndGateNode):
            return fn.policy
    return Policy()


def _execution(store: Store, ident: str, row_of: Any) -> tuple[Any, str | None]:
    """The ledger entry of the action `ident` names (an action id, or a request id or prefix)."""
    entry = store.ledger.get(ident)
    if entry is not None:
        return entry, None
    row = row_of(ident)  # NotPendingError: neither an executed action nor a request
    decided = store.audit.query(request_id=row.request_id, event=["approved", "edited", "timed_out"])
    for action_id in dict.fromkeys([*(e["action_id"] for e in decided), row.action_id]):
        if action_id and (entry := store.ledger.get(action_id)) is not None:
            return entry, row.request_id
    what = (row.decision or {}).get("type") or row.status
    msg = (
        f"Request {row.request_id} ({row.action_name!r}, {what}) was never executed: there is nothing to "
        "reverse. Only an action whose handler completed can be reversed."
    )
    raise ReversalError(msg)


def executed_action(store: Store, ident: str, row_of: Any) -> Executed:
    """The executed action behind `ident` (an action id, or the id or prefix of its request).

    Raises:
        NotPendingError: `ident` names no action and no request.
        ReversalError: It was never executed, did not complete, or is a compensation itself.
    """
    entry, request_id = _execution(store, ident, row_of)
    if entry.action.startswith(REVERSE_PREFIX):
        msg = f"{entry.action_id!r} is a compensation ({entry.action}); a reversal is not reversed again."
        raise ReversalError(msg)
    if entry.status != "completed":
        why = f" ({entry.error})" if entry.error else ""
        msg = (
            f"Action {entry.action!r} (action id {entry.action_id}) is {entry.status}{why}, not completed: "
            "only an action whose handler completed can be reversed."
        )
        raise ReversalError(msg)
    events = store.audit.query(action_id=entry.action_id, event="executed", limit=1)
    if not events:
        msg = (
            f"Action {entry.action_id} has no `executed` audit event yet; try again once its run is recorded."
        )
        raise ReversalError(msg)
    ev = events[0]
    approvals = store.audit.query(action_id=entry.action_id, event=["approved", "edited"], limit=1)
    receipt = ((approvals[0].get("detail") or {}).get("receipt") or {}) if approvals else {}
    return Executed(
        action_id=entry.action_id,
        name=entry.action,
        args=ev.get("args") or {},
        result=entry.result,
        thread_id=entry.thread_id,
        request_id=request_id or (approvals[0].get("request_id") if approvals else None),
        reversibility=ev.get("reversibility"),
        risk=ev.get("risk"),
        policy_version=ev.get("policy_version"),
        executed_at=ev["ts"],
        digest=receipt.get("digest") if isinstance(receipt, dict) else None,
    )


def reversible_actions(store: Store, graph: Any, moment: float) -> list[ReversibleAction]:
    """Executed actions with a compensation, not reversed, whose window is open at `moment`."""
    policy = policy_of(graph)
    windows: dict[str, float | None] = {r: policy.requirement(r).review_after_s for r in RISKS}
    longest = max((w for w in windows.values() if w), default=None)
    names = compensations(graph)
    if longest is None or not names:
        return []
    from .._canonical import iso

    found: dict[str, ReversibleAction] = {}
    for ev in store.audit.query(event="executed", since=iso(moment - longest)):
        window = windows.get(ev.get("risk") or "")
        if not window or ev.get("action") not in names or ev.get("reversibility") not in _LISTED:
            continue
        until = datetime.fromisoformat(ev["ts"]).timestamp() + window
        done = store.ledger.get(REVERSE_PREFIX + ev["action_id"])
        if until <= moment or ev["action_id"] in found or (done is not None and done.status == "completed"):
            continue
        found[ev["action_id"]] = ReversibleAction(
            action_id=ev["action_id"],
            action=ev["action"],
            args=ev.get("args") or {},
            thread_id=ev.get("thread_id"),
            executed_at=ev["ts"],
            until=until,
            reversibility=ev["reversibility"],
        )
    return sorted(found.values(), key=lambda a: a.until)
