"""What became of a request, in plain words, from langgraph-hitl's own tables (no LangGraph).

`show` reads it: who decided what for each call, whether the action then ran (the audit
log's `executed` / `failed` rows) and what the handler returned (the execution ledger), or
what the thread waits for next. The inbox's internal statuses (`resumed`, `deciding`) never
reach the reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..types import SYSTEM_TIMEOUT
from ._calls import CallView, calls_of
from ._render import SHORT, refusal_reason

if TYPE_CHECKING:
    from ..store import Store
    from ..store.inbox import RequestRow

__all__ = ["CallOutcome", "Outcome", "decision_words", "outcome_of", "status_words"]

_DECISION_EVENTS = frozenset(
    {"approved", "edited", "rejected", "responded", "revision_requested", "timed_out", "escalated"}
)


@dataclass(frozen=True)
class CallOutcome:
    """One call's decision and what followed it."""

    view: CallView
    """The call."""
    decision: dict[str, Any] | None
    """The decision it got; None while undecided."""
    words: str
    """The decision in plain words: `approved by alice`, `rejected by bob: "not this one"`."""
    ran: str
    """What happened next: `executed`, `failed: ...`, `not run`, `waiting for ...`, or `-`."""
    result: Any = None
    """The handler's result, from the execution ledger (when it ran)."""


@dataclass(frozen=True)
class Outcome:
    """A request's fate: its status in plain words and each call's outcome."""

    status: str
    """`pending: waiting for a decision`, `decided by alice`, `expired: ...`, `cancelled: ...`."""
    calls: list[CallOutcome]
    """One per call, in order."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for `show --json`."""
        return {
            "status": self.status,
            "calls": [
                {
                    "index": c.view.index,
                    "call_id": c.view.call_id,
                    "name": c.view.name,
                    "decision": c.words,
                    "ran": c.ran,
                    "result": c.result,
                }
                for c in self.calls
            ],
        }


def status_words(row: RequestRow) -> str:
    """The request's status for people."""
    who = row.decided_by or "?"
    if row.status == "pending":
        return "pending: waiting for a decision"
    if row.status == "deciding":
        return f"being decided: {who}'s decision is being applied"
    if row.status == "resumed":
        return f"decided by {who}"
    if row.status == "expired":
        return f"expired: nobody decided before the deadline, so {who} applied its on_timeout"
    if row.status == "cancelled":
        return "cancelled: the thread moved on before anyone decided (abandoned, changed or finished)"
    return row.status


def decision_words(decision: Mapping[str, Any], who: str | None, on_timeout: str | None = None) -> str:
    """One decision in plain words, with its message."""
    kind = decision.get("type")
    by = f" by {who}" if who else ""
    words = {
        "approve": f"approved{by}",
        "edit": f"edited and approved{by}",
        "reject": f"rejected{by}",
        "respond": f"answered{by} instead of run",
        "revise": f"sent back for revision{by}",
        "timeout": "timed out: " + ("approved (soft gate)" if on_timeout == "approve" else "rejected"),
        "escalate": "timed out: escalated to the next reviewers",
    }.get(str(kind), f"{kind}{by}")
    if kind == "edit" and isinstance(decision.get("edited_action"), dict):
        edited = decision["edited_action"]
        words += f" as {edited.get('name')} {edited.get('args')}"
    if decision.get("message"):
        words += f': "{decision["message"]}"'
    return words


def _decisions(row: RequestRow, count: int) -> list[dict[str, Any] | None]:
    answer = row.decision
    if not isinstance(answer, dict):
        return [None] * count
    items = answer.get("decisions") if "decisions" in answer else [answer]
    if not isinstance(items, list):
        return [None] * count
    return [d if isinstance(d, dict) else None for d in items] + [None] * (count - len(items))


def _run_id(row: RequestRow, view: CallView, history: Sequence[Mapping[str, Any]]) -> str | None:
    """The action id the call ran under: its decision row's (an edit's is the edited action's)."""
    for rec in history:
        if (
            rec.get("request_id") == row.request_id
            and rec.get("event") in _DECISION_EVENTS
            and rec.get("action") == view.name
            and rec.get("args") == view.args
        ):
            return str(rec["action_id"])
    return None


def _ran(
    store: Store, row: RequestRow, run_id: str | None, decision: Mapping[str, Any], history: Sequence[Any]
) -> tuple[str, Any]:
    kind = decision.get("type")
    approving = kind in ("approve", "edit") or (
        kind == "timeout" and row.payload["hitl"].get("on_timeout") == "approve"
    )
    if not approving:
        return "not run", None
    done = [
        r for r in history if run_id and r.get("action_id") == run_id and r["event"] in ("executed", "failed")
    ]
    if done:
        entry = store.ledger.get(str(run_id))
        if done[-1]["event"] == "executed":
            return "executed", entry.result if entry is not None else None
        error = (done[-1].get("detail") or {}).get("error") or (entry.error if entry else None)
        return f"failed: {error}", None
    waiting = [r for r in store.inbox.by_thread(row.thread_id) if r.status == "pending"]
    if waiting:
        ids = ", ".join(r.request_id[:SHORT] for r in waiting)
        return f"not run yet: the thread waits for the next reviewer (request {ids})", None
    return "no execution recorded here (a tool call's result goes to the agent's messages)", None


def _graph_refusal(row: RequestRow, history: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the graph refused the accepted decision when it applied it (a `refused` row after the decision's)."""
    mine = [r for r in history if r.get("request_id") == row.request_id]
    decided = [int(r["seq"]) for r in mine if r.get("event") in _DECISION_EVENTS]
    if not decided:
        return None
    later = [r for r in mine if r.get("event") == "refused" and int(r["seq"]) > max(decided)]
    return refusal_reason(later[-1]) or "no reason recorded" if later else None


def outcome_of(store: Store, row: RequestRow, history: Sequence[Mapping[str, Any]]) -> Outcome:
    """`row`'s status and each call's decision and outcome."""
    views = calls_of(row.payload)
    on_timeout = row.payload["hitl"].get("on_timeout")
    who = None if row.decided_by == SYSTEM_TIMEOUT else row.decided_by
    refused = _graph_refusal(row, history)
    calls = []
    for view, decision in zip(views, _decisions(row, len(views)), strict=False):
        if decision is None or row.status not in ("resumed", "expired", "deciding"):
            calls.append(CallOutcome(view, None, "-", "-"))
            continue
        ran, result = _ran(store, row, _run_id(row, view, history), decision, history)
        if refused is not None:
            ran, result = f"not run: the graph refused the decision ({refused}) and asked again", None
        if row.status == "deciding":
            ran = "being applied"
        calls.append(CallOutcome(view, decision, decision_words(decision, who, on_timeout), ran, result))
    return Outcome(status_words(row), calls)
