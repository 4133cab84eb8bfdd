"""Turning requests, audit rows and metrics into what the templates show.

Pure functions of their inputs and `now`: no database, no FastAPI. Templates escape every
value they print (autoescape is on), so nothing here builds HTML.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from ..approvals import PendingRequest
from ..decisions import allowed_decisions

__all__ = [
    "REVERSIBILITY_LABELS",
    "STAT_COLUMNS",
    "arg_rows",
    "event_view",
    "fmt_duration",
    "fmt_rate",
    "fmt_time",
    "pretty",
    "request_view",
    "thread_url",
    "time_left",
]

REVERSIBILITY_LABELS: dict[str, str] = {
    "fully_reversible": "Fully reversible",
    "partially_reversible": "Partially reversible",
    "irreversible_low": "Irreversible, low impact",
    "irreversible_high": "Irreversible, high impact",
}
"""How each reversibility class reads on the page."""

STAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("decisions", "Decisions"),
    ("approved", "Approved"),
    ("edited", "Edited"),
    ("rejected", "Rejected"),
    ("timed_out", "Timed out"),
    ("responded", "Responded"),
    ("revision_requested", "Revisions"),
    ("auto_approved", "Auto"),
    ("approval_rate", "Approval rate"),
    ("edit_rate", "Edit rate"),
    ("median_decision_s", "Median time"),
    ("p90_decision_s", "p90 time"),
)
"""The metrics table's columns: key of `GroupStats`, heading."""

# Context keys shown in their own places; the rest is listed under "More context".
_CONTEXT_KEYS = ("task", "step", "total_steps", "earlier_actions", "tool_calls", "refused")


def fmt_time(ts: float | str | None) -> str:
    """`2026-01-31 14:05 UTC` for Unix seconds or ISO 8601 text; empty for None."""
    if ts is None or ts == "":
        return ""
    if isinstance(ts, str):
        try:
            moment = datetime.fromisoformat(ts)
        except ValueError:
            return ts
    else:
        moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: float | None) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`; empty for None."""
    if seconds is None:
        return ""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def fmt_rate(value: Any) -> str:
    """A 0-1 rate as a percentage; other values as text; empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.0%}"
    return str(value)


def time_left(deadline: float | None, now: float) -> tuple[str, str]:
    """Text and CSS class for a deadline: ('in 12 min', 'ok'), ('overdue by 3 min', 'overdue')."""
    if deadline is None:
        return "no deadline", "none"
    left = deadline - now
    if left <= 0:
        return f"overdue by {fmt_duration(-left)}", "overdue"
    return f"in {fmt_duration(left)}", "soon" if left < 600 else "ok"


def pretty(value: Any) -> str:
    """Indented JSON with sorted keys, for `<pre>` blocks and the edit textarea."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def arg_rows(args: Any) -> list[dict[str, str]]:
    """An action's arguments as rows of name and value: text as it is, anything else as JSON."""
    if not isinstance(args, dict):
        return [{"name": "", "value": pretty(args)}]
    return [
        {"name": str(k), "value": v if isinstance(v, str) else pretty(v)}
        for k, v in sorted(args.items(), key=lambda item: str(item[0]))
    ]


def _calls(payload: dict[str, Any], hitl: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per action request, with the rules its own decision is checked against (`hitl.calls[i]`)."""
    rules = [r if isinstance(r, dict) else {} for r in hitl.get("calls") or []]
    rows = []
    for i, asked in enumerate(payload.get("action_requests") or []):
        rule: dict[str, Any] = rules[i] if i < len(rules) else hitl
        rows.append(
            {
                "index": i,
                "number": i + 1,
                "name": str(asked.get("name", "")),
                "description": asked.get("description") or "",
                "args": arg_rows(asked.get("args", {})),
                "args_json": pretty(asked.get("args", {})),
                "risk": str(rule.get("risk") or hitl.get("risk") or ""),
                "mode": str(rule.get("mode") or hitl.get("mode") or ""),
                "verify_phrase": rule.get("verify_phrase"),
                "allowed": allowed_decisions(payload, i) or ["approve", "reject"],
            }
        )
    return rows


def _earlier(actions: Any) -> list[dict[str, str]]:
    rows = []
    for item in actions if isinstance(actions, list) else []:
        if isinstance(item, dict):
            rows.append(
                {k: "" if item.get(k) is None else str(item.get(k)) for k in ("action", "event", "actor")}
            )
        else:
            rows.append({"action": str(item), "event": "", "actor": ""})
    return rows


def thread_url(thread_id: str) -> str:
    """The thread page's address: `/threads/` and the id as one path segment.

    Every reserved character is escaped, `/` too (the route takes the rest of the path, so a
    `/` would work, but `a/../b` would then be folded by the browser before it is sent). Only
    `.` and `..` cannot be a path segment at all, so those two go in the query: `/threads/?id=..`.

    Example:
        >>> thread_url("orders/42?x#y")
        '/threads/orders%2F42%3Fx%23y'
    """
    if thread_id in (".", ".."):
        return f"/threads/?id={quote(thread_id, safe='')}"
    return f"/threads/{quote(thread_id, safe='')}"


def request_view(req: PendingRequest, now: float) -> dict[str, Any]:
    """Everything the list and detail pages show about one request."""
    payload: dict[str, Any] = dict(req.payload)
    hitl: dict[str, Any] = dict(payload.get("hitl") or {})
    context: dict[str, Any] = dict(hitl.get("context") or {})
    left, urgency = time_left(req.deadline, now) if req.status == "pending" else ("", "none")
    actions = [
        {
            "name": a.get("name", ""),
            "description": a.get("description") or "",
            "args": pretty(a.get("args", {})),
            "args_json": json.dumps(a.get("args", {}), sort_keys=True, ensure_ascii=False, default=str),
        }
        for a in payload.get("action_requests") or [req.action]
    ]
    step, total = context.get("step"), context.get("total_steps")
    return {
        "id": req.request_id,
        "short_id": req.request_id[:12],
        "thread_id": req.thread_id,
        "thread_url": thread_url(req.thread_id),
        "node": req.node,
        "stage": req.stage,
        "status": req.status,
        "risk": req.risk,
        "reversibility": REVERSIBILITY_LABELS.get(
            str(hitl.get("reversibility")), str(hitl.get("reversibility", ""))
        ),
        "reversibility_key": str(hitl.get("reversibility", "")),
        "mode": hitl.get("mode", ""),
        "reasons": [str(r) for r in hitl.get("reasons") or []],
        "impact": hitl.get("impact") or "",
        "actions": actions,
        "action": actions[0],
        "calls": _calls(payload, hitl),
        "multi": len(actions) > 1,
        "refused_before": str(hitl.get("refused") or context.get("refused") or ""),
        "approvers": hitl.get("approvers"),
        "excluded": [str(x) for x in hitl.get("exclude_approvers") or []],
        "requested_by": req.requested_by,
        "created": fmt_time(req.created_at),
        "created_ago": fmt_duration(now - req.created_at) if now - req.created_at >= 60 else "under a minute",
        "deadline": fmt_time(req.deadline),
        "time_left": left,
        "urgency": urgency,
        "on_timeout": hitl.get("on_timeout", "reject"),
        "verify_phrase": hitl.get("verify_phrase"),
        "rubber_stamp": bool(hitl.get("rubber_stamp")),  # a flagged approver types a phrase (rubber_stamp.py)
        "allowed": allowed_decisions(payload, 0),
        "escalation_level": hitl.get("escalation_level", 0),
        "task": context.get("task"),
        "step": f"Step {step} of {total}"
        if step is not None and total is not None
        else (f"Step {step}" if step is not None else ""),
        "earlier": _earlier(context.get("earlier_actions")),
        "context_extra": pretty({k: v for k, v in context.items() if k not in _CONTEXT_KEYS}),
        "has_context_extra": any(k not in _CONTEXT_KEYS for k in context),
        "decided_by": req.decided_by,
        "decision": req.decision,
        "halted": req.halted if req.status == "pending" else None,  # the active halt covering it
    }


def event_view(record: Any) -> dict[str, Any]:
    """One audit row for the audit and detail pages.

    A `refused` row reads "refused" with its reason; the decision that was refused (its
    `decision` field, e.g. `approve`) is shown as what was tried, never as the outcome.
    """
    detail = record.get("detail") or {}
    message = (detail.get("message") or detail.get("error") or "") if isinstance(detail, dict) else ""
    if record.get("event") == "refused":
        tried = record.get("decision")
        outcome = "refused" + (f" (tried: {tried})" if tried and tried not in ("refused", "invalid") else "")
    else:
        outcome = record.get("decision") or record.get("outcome") or ""
    return {
        "seq": record.get("seq"),
        "ts": fmt_time(record.get("ts")),
        "event": record.get("event", ""),
        "actor": record.get("actor", ""),
        "action": record.get("action") or "",
        "thread_id": record.get("thread_id") or "",
        "request_id": record.get("request_id") or "",
        "risk": record.get("risk") or "",
        "outcome": outcome,
        "message": str(message),
        "args": pretty(record.get("args")) if record.get("args") is not None else "",
    }
