"""Turning inbox rows, audit records and stats into rich tables and plain JSON (no LangGraph)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._canonical import iso

if TYPE_CHECKING:
    from rich.console import Console

    from ..store.inbox import RequestRow

__all__ = [
    "age",
    "audit_table",
    "console",
    "pending_table",
    "print_json",
    "request_dict",
    "show_request",
    "stats_view",
    "until",
]

SHORT = 12
"""Characters of a request id shown in tables (any unique prefix of 6 or more is accepted back)."""


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr), created per command so test runners can capture it.

    Piped output is not folded to 80 columns (rich's default off a terminal): lines stay whole
    for grep and files, unless COLUMNS says otherwise.
    """
    from rich.console import Console

    file = sys.stderr if stderr else sys.stdout
    width = None if "COLUMNS" in os.environ or file.isatty() else 200
    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def print_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def span(seconds: float) -> str:
    """A short human duration: `45s`, `12m`, `3h05m`, `2d04h`."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"


def age(created_at: float, now: float) -> str:
    """How long ago a request was asked."""
    return span(now - created_at)


def until(deadline: float | None, now: float) -> str:
    """`in 59m`, `overdue 3m`, or `-` without a deadline."""
    if deadline is None:
        return "-"
    return f"in {span(deadline - now)}" if deadline > now else f"overdue {span(now - deadline)}"


def _approvers(row: RequestRow) -> str:
    return ", ".join(row.approvers) if row.approvers else "anyone"


def request_dict(row: RequestRow) -> dict[str, Any]:
    """A request as plain JSON, the same shape as `PendingRequest.to_dict()`."""
    return {
        "request_id": row.request_id,
        "thread_id": row.thread_id,
        "node": row.node,
        "stage": row.stage,
        "action": row.action,
        "risk": row.risk,
        "status": row.status,
        "approvers": row.approvers,
        "requested_by": row.requested_by,
        "created_at": iso(row.created_at),
        "deadline": iso(row.deadline) if row.deadline else None,
        "decided_by": row.decided_by,
        "decision": row.decision,
        "payload": row.payload,
    }


_RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


def pending_table(rows: Sequence[RequestRow], now: float) -> Any:
    """The inbox as a table: request, thread, action, risk, age, deadline, approvers."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("request", no_wrap=True)
    table.add_column("thread", overflow="fold")
    table.add_column("action", overflow="fold")
    table.add_column("risk", no_wrap=True)
    table.add_column("age", no_wrap=True, justify="right")
    table.add_column("deadline", no_wrap=True)
    table.add_column("approvers", overflow="fold")
    for row in rows:
        overdue = row.deadline is not None and row.deadline <= now
        table.add_row(  # Text, not markup: thread ids and names are data, brackets included
            Text(row.request_id[:SHORT]),
            Text(row.thread_id),
            Text(row.action_name),
            Text(row.risk, style=_RISK_STYLE.get(row.risk, "")),
            age(row.created_at, now),
            Text(until(row.deadline, now), style="red" if overdue else ""),
            Text(_approvers(row)),
        )
    return table


def _json_block(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def show_request(out: Console, row: RequestRow, history: Sequence[Mapping[str, Any]], now: float) -> None:
    """Everything a reviewer needs to decide `row`, then the thread's audit trail."""
    from rich.markup import escape
    from rich.table import Table

    hitl: Mapping[str, Any] = row.payload["hitl"]
    action = row.action
    allowed = [d for c in row.payload.get("review_configs", []) for d in c.get("allowed_decisions", [])]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")

    def fact(label: str, value: Any) -> None:
        facts.add_row(label, escape(str(value)))

    fact("request", row.request_id)
    fact("status", row.status + (f" by {row.decided_by}" if row.decided_by else ""))
    if row.decision:
        fact("decision", json.dumps(row.decision, ensure_ascii=False, sort_keys=True))
    fact("thread", row.thread_id)
    fact("node", f"{row.node} (stage {row.stage})")
    fact("action", action.get("name", row.action_name))
    if action.get("description"):
        fact("description", action["description"])
    fact("risk", row.risk)
    fact("reversibility", hitl.get("reversibility", "-"))
    fact("gate", hitl.get("mode", "-"))
    fact("impact", hitl.get("impact") or "-")
    fact("approvers", _approvers(row))
    fact("excluded", ", ".join(hitl.get("exclude_approvers") or []) or "-")
    fact("requested by", row.requested_by)
    fact("allowed", ", ".join(allowed) or "-")
    fact("verify phrase", hitl.get("verify_phrase") or "-")
    fact("asked", f"{iso(row.created_at)[:19]}Z ({age(row.created_at, now)} ago)")
    deadline = f"{iso(row.deadline)[:19]}Z ({until(row.deadline, now)})" if row.deadline else "-"
    fact("deadline", f"{deadline}, then {hitl.get('on_timeout', 'reject')}" if row.deadline else deadline)
    fact("policy", hitl.get("policy_version") or "-")
    out.print(facts)
    reasons = hitl.get("reasons") or []
    if reasons:
        out.print("\n[bold]reasons[/]")
        for reason in reasons:
            out.print(f"  - {escape(str(reason))}")
    out.print("\n[bold]args[/]")
    out.print(escape(_json_block(action.get("args", {}))))
    if hitl.get("context"):
        out.print("\n[bold]context[/]")
        out.print(escape(_json_block(hitl["context"])))
    out.print(f"\n[bold]history of thread {escape(row.thread_id)}[/]")
    if history:
        out.print(audit_table(history))
    else:
        out.print("  (no audit events)")


def audit_table(records: Iterable[Mapping[str, Any]]) -> Any:
    """Audit records as a table, in the order given."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("seq", "time (UTC)", "event", "actor", "action", "result", "request", "thread"):
        table.add_column(
            name,
            justify="right" if name == "seq" else "left",
            overflow="fold",
            no_wrap=name in ("seq", "time (UTC)"),
        )
    for rec in records:
        table.add_row(
            *(
                Text(str(cell))
                for cell in (
                    rec["seq"],
                    rec["ts"][:19].replace("T", " "),
                    rec["event"],
                    rec["actor"],
                    rec["action"] or "",
                    rec["decision"] or rec["outcome"] or "",
                    (rec["request_id"] or "")[:SHORT],
                    rec["thread_id"] or "",
                )
            )
        )
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else span(value)


def stats_view(out: Console, stats: Mapping[str, Any]) -> None:
    """Decision counts, rates and timings per gate, action and approver, then the flags."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    totals = stats["totals"]
    window = f"since {stats['since']}" if stats.get("since") else "all time"
    out.print(
        f"[bold]{totals['decisions']}[/] decisions ({escape(window)}): approved {totals['approved']}, "
        f"edited {totals['edited']}, rejected {totals['rejected']}, timed out {totals['timed_out']}; "
        f"auto-approved {totals['auto_approved']}; median time to decide {_secs(totals['median_decision_s'])}"
    )
    for scope in ("gates", "actions", "approvers"):
        groups: Mapping[str, Any] = stats.get(scope) or {}
        if not groups:
            continue
        table = Table(
            title=scope,
            title_justify="left",
            title_style="bold",
            box=None,
            header_style="bold",
            pad_edge=False,
        )
        for name in (
            scope[:-1],
            "decisions",
            "approved",
            "edited",
            "rejected",
            "timed out",
            "approval",
            "edit",
            "median",
            "p90",
            "flags",
        ):
            table.add_column(
                name, justify="left" if name in (scope[:-1], "flags") else "right", overflow="fold"
            )
        for key, group in groups.items():
            table.add_row(
                Text(key),
                str(group["decisions"]),
                str(group["approved"]),
                str(group["edited"]),
                str(group["rejected"]),
                str(group["timed_out"]),
                _pct(group["approval_rate"]),
                _pct(group["edit_rate"]),
                _secs(group["median_decision_s"]),
                _secs(group["p90_decision_s"]),
                ", ".join(group.get("flags") or []),
            )
        out.print()
        out.print(table)
    for note in stats.get("flags") or []:
        out.print(f"[yellow]flag[/] {escape(note['message'])}")
