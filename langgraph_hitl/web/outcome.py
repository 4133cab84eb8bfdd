"""What became of a request, in plain words: who decided what for each call, and what then ran.

The inbox's own status (`pending`, `deciding`, `resumed`, `expired`, `cancelled`) is the
runner's bookkeeping; reviewers read "Decided", "Timed out" and the result instead. Results
come from what was recorded: an `executed` / `failed` audit row and the execution ledger's
result for actions run by `ExecuteNode`, and the `ToolMessage` answering each call for a tool
gate. Pure functions of those records: `service.InboxService.outcome` gathers them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..approvals import PendingRequest

__all__ = ["STATE_TEXT", "Records", "call_ids", "decisions_of", "outcome", "refusal_of", "short_json"]

STATE_TEXT: dict[str, str] = {
    "pending": "Waiting for a decision",
    "deciding": "Decision being applied",
    "resumed": "Decided",
    "expired": "Timed out",
    "cancelled": "Cancelled",
}
"""How each inbox status reads on the page and in the API (`status_text`)."""

_DECIDED = {
    "approve": "approved",
    "edit": "edited and approved",
    "reject": "rejected",
    "respond": "answered instead of run",
    "revise": "sent back for revision",
    "escalate": "escalated to the next reviewers",
}
_CANCELLED = (
    "Cancelled: the thread moved on without this question (it was abandoned, changed, or asked again)."
)
_RESULT_CHARS = 600


@dataclass
class Records:
    """What was recorded about a request's thread, as `outcome` reads it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    """The thread's audit events, oldest first."""
    later: list[PendingRequest] = field(default_factory=list)
    """The thread's pending requests created after this one (what it waits for now)."""
    ledger: dict[str, Any] = field(default_factory=dict)
    """Execution ledger entries by action id."""
    tool_results: dict[str, tuple[str, str]] = field(default_factory=dict)
    """`ToolMessage` status and text by tool-call id (tool gates; empty without a graph)."""


def short_json(value: Any, limit: int = _RESULT_CHARS) -> str:
    """`value` as one line of text (JSON for anything but text), cut at `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decisions_of(req: PendingRequest) -> list[dict[str, Any]]:
    """The decision taken on each action of a decided request, in order ([] while pending)."""
    decision = req.decision or {}
    items = decision.get("decisions") if "decisions" in decision else [decision] if decision else []
    return [d for d in items or [] if isinstance(d, dict)]


def call_ids(req: PendingRequest) -> list[str | None]:
    """The tool-call id of each action request of a tool gate's question (None elsewhere)."""
    context = req.payload["hitl"].get("context") or {}
    calls = context.get("tool_calls") if isinstance(context, dict) else None
    if not isinstance(calls, list):
        return [None] * len(req.payload["action_requests"])
    asked = [c.get("id") for c in calls if isinstance(c, dict) and c.get("state") == "pending"]
    count = len(req.payload["action_requests"])
    return [str(asked[i]) if i < len(asked) and asked[i] is not None else None for i in range(count)]


def refusal_of(req: PendingRequest) -> str | None:
    """Why the graph refused the previous answer to this question, if it did (`hitl.refused`)."""
    hitl = req.payload["hitl"]
    context = hitl.get("context") if isinstance(hitl.get("context"), dict) else {}
    reason = hitl.get("refused") or (context or {}).get("refused")
    return str(reason) if reason else None


def _decision_text(decision: dict[str, Any], on_timeout: str) -> str:
    kind = str(decision.get("type", ""))
    if kind == "timeout":
        return "timed out: " + ("approved (soft gate)" if on_timeout == "approve" else "rejected")
    return _DECIDED.get(kind, kind or "decided")


def _executions(req: PendingRequest, records: Records) -> list[dict[str, Any]]:
    """`executed` / `failed` / `denied` rows for the actions this request decided (edits included)."""
    hitl = req.payload["hitl"]
    ids = set(hitl.get("action_ids") or [hitl.get("action_id")])
    ids |= {e["action_id"] for e in records.events if e.get("request_id") == req.request_id}
    return [
        e
        for e in records.events
        if e.get("event") in ("executed", "failed", "denied") and e.get("action_id") in ids
    ]


def _approves(kind: str, on_timeout: str) -> bool:
    return kind in ("approve", "edit") or (kind == "timeout" and on_timeout == "approve")


def _ran(req: PendingRequest, records: Records, index: int, kind: str) -> tuple[str, str]:
    """(what happened to call `index`, its result or error text)."""
    approved = _approves(kind, str(req.payload["hitl"].get("on_timeout", "reject")))
    tool_call = call_ids(req)[index]
    if tool_call is not None and tool_call in records.tool_results:
        status, text = records.tool_results[tool_call]
        if status == "error":
            return ("failed" if approved else "not run"), text
        return ("ran" if approved else "not run"), text
    if tool_call is None:
        name = req.payload["action_requests"][index]["name"]
        runs = [e for e in _executions(req, records) if e.get("action") == name or kind == "edit"]
        if runs:
            return _execution_text(runs[-1], records)
    if not approved:
        return "not run", ""
    return ("waiting", "") if records.later else ("unknown", "")


def _execution_text(event: dict[str, Any], records: Records) -> tuple[str, str]:
    entry = records.ledger.get(str(event.get("action_id")))
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    if event.get("event") == "executed":
        result = getattr(entry, "result", None)
        return "ran", short_json(result) if result is not None else ""
    if event.get("event") == "denied":
        return "not run", str((detail or {}).get("message") or "denied by the policy")
    error = getattr(entry, "error", None) or (detail or {}).get("error") or ""
    return "failed", str(error)


_RAN_TEXT = {
    "ran": "ran",
    "failed": "failed",
    "not run": "did not run",
    "waiting": "waits for the next review",
    "unknown": "has not run yet",
}


def _call_rows(req: PendingRequest, records: Records) -> list[dict[str, Any]]:
    on_timeout = str(req.payload["hitl"].get("on_timeout", "reject"))
    rows = []
    decisions = decisions_of(req)
    for i, asked in enumerate(req.payload["action_requests"]):
        decision = decisions[i] if i < len(decisions) else {}
        kind = str(decision.get("type", ""))
        ran, result = _ran(req, records, i, kind) if decision else ("pending", "")
        rows.append(
            {
                "number": i + 1,
                "name": asked["name"],
                "decision": kind,
                "decision_text": _decision_text(decision, on_timeout) if decision else "",
                "message": str(decision.get("message") or ""),
                "ran": ran,
                "ran_text": _RAN_TEXT.get(ran, ""),
                "result": result,
            }
        )
    return rows


def _summary(req: PendingRequest, rows: list[dict[str, Any]], nexts: list[dict[str, str]]) -> str:
    if req.status == "pending":
        return "Waiting for a decision."
    if req.status == "cancelled":
        return _CANCELLED
    who = req.decided_by or "?"
    timed_out = req.status == "expired" or who.startswith("system:")
    head = "Nobody decided in time" if timed_out else f"Decided by {who}"
    if req.status == "deciding":
        return f"{head}; the decision is being applied."
    parts = [
        f"{r['name']} {r['decision_text']}"
        + (f" (“{r['message']}”)" if r["message"] else "")
        + (f", {r['ran_text']}" if r["ran_text"] else "")
        + (f": {r['result']}" if r["result"] and r["ran"] in ("ran", "failed") else "")
        for r in rows
    ]
    waiting = "; ".join(f"{n['action']} at {n['node']} (request {n['short_id']})" for n in nexts)
    return f"{head}: " + "; ".join(parts) + "." + (f" The thread now waits for {waiting}." if waiting else "")


def outcome(req: PendingRequest, records: Records) -> dict[str, Any]:
    """What became of `req`: `state_text`, a one-paragraph `summary`, `calls` and `next`.

    Each of `calls` says the call's `decision` (and `decision_text`), the reviewer's `message`,
    whether it `ran` (`ran`, `failed`, `not run`, `waiting`, `unknown`, or `pending`), and its
    `result` (the handler's return value or the tool's answer, as text).
    """
    rows = _call_rows(req, records)
    nexts = [
        {
            "request_id": p.request_id,
            "short_id": p.request_id[:12],
            "node": p.node,
            "action": str(p.action.get("name", "")),
        }
        for p in records.later
    ]
    return {
        "status_text": STATE_TEXT.get(req.status, req.status),
        "summary": _summary(req, rows, nexts),
        "calls": rows,
        "next": nexts,
    }
