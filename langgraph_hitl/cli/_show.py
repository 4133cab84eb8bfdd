"""`show`: everything a reviewer needs to decide one request, or what became of it (no LangGraph).

`show --thread`: the thread's requests, one line each (status, who decided, node, action,
risk, interrupt id), each pending one in full as below, then the thread's audit trail.

One action: its name, arguments, risk, gate, approvers, allowed decisions and phrase as facts.
Several (a tool gate's question): the request's facts, then each call with its own risk,
gate, approvers, allowed decisions, phrase and arguments, numbered as `--call` takes them.
Once decided: who decided what, in plain words, whether it ran and what the handler returned.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._canonical import iso
from ._calls import CallView, calls_of
from ._outcome import CallOutcome, Outcome
from ._render import SHORT, age, approvers_text, audit_table, json_block, text, until

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..store.inbox import RequestRow

__all__ = ["show_request", "show_thread"]


def _facts() -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _one_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _call_facts(grid: Table, view: CallView, outcome: CallOutcome | None, *, with_args: bool) -> None:
    """The rows that belong to one call (the request's own rows when it has one call)."""

    def fact(label: str, value: Any) -> None:
        grid.add_row(label, text(value))

    if outcome is not None and outcome.decision is not None:
        fact("decision", outcome.words)
        fact("outcome", outcome.ran)
        if outcome.result is not None:
            fact("result", _one_line(outcome.result))
    if with_args:
        fact("risk", view.risk)
        fact("gate", view.mode)
        fact("approvers", approvers_text(view.approvers))
        if view.description:
            fact("description", view.description)
        fact("args", _one_line(view.args))
    fact("allowed", ", ".join(view.allowed) or "-")
    fact("verify phrase", view.verify_phrase or "-")


def _request_facts(row: RequestRow, views: Sequence[CallView], outcome: Outcome, now: float) -> Table:
    hitl: Mapping[str, Any] = row.payload["hitl"]
    grid = _facts()

    def fact(label: str, value: Any) -> None:
        grid.add_row(label, text(value))

    fact("request", row.request_id)
    fact("status", outcome.status)
    fact("thread", row.thread_id)
    fact("node", f"{row.node} (stage {row.stage})")
    if len(views) == 1:
        fact("action", views[0].name)
        if views[0].description:
            fact("description", views[0].description)
    else:
        fact("calls", f"{len(views)}: " + ", ".join(f"{v.index} {v.name}" for v in views))
    fact("risk", row.risk)
    fact("reversibility", hitl.get("reversibility", "-"))
    fact("gate", hitl.get("mode", "-"))
    fact("impact", hitl.get("impact") or "-")
    fact("approvers", approvers_text(row.approvers))
    fact("excluded", ", ".join(hitl.get("exclude_approvers") or []) or "-")
    fact("requested by", row.requested_by)
    if len(views) == 1:
        _call_facts(grid, views[0], outcome.calls[0] if outcome.calls else None, with_args=False)
    fact("asked", f"{iso(row.created_at)[:19]}Z ({age(row.created_at, now)} ago)")
    if row.status == "pending":  # a decided request has no deadline left
        deadline = f"{iso(row.deadline)[:19]}Z ({until(row.deadline, now)})" if row.deadline else "-"
        fact("deadline", f"{deadline}, then {hitl.get('on_timeout', 'reject')}" if row.deadline else deadline)
    fact("policy", hitl.get("policy_version") or "-")
    return grid


def _print_calls(out: Console, views: Sequence[CallView], outcome: Outcome) -> None:
    from rich.padding import Padding
    from rich.text import Text

    out.print("\n[bold]calls[/]")
    for view, call in zip(views, outcome.calls, strict=False):
        title = Text(f"{view.index}  ", style="bold") + text(view.name, style="bold")
        if view.call_id:
            title += Text("  id ") + text(view.call_id)
        out.print(title)
        grid = _facts()
        _call_facts(grid, view, call, with_args=True)
        out.print(Padding(grid, (0, 0, 0, 3)))


def _decide_hint(row: RequestRow, views: Sequence[CallView]) -> str:
    phrases = " ".join(f"--verify {v.ref}={shlex.quote(v.verify_phrase)}" for v in views if v.verify_phrase)
    return (
        f"langgraph-hitl approve {row.request_id[:SHORT]} --as NAME --all {phrases}".rstrip()
        + f"   (or --call {views[0].ref}=approve --call {views[1].ref}=reject ...)"
    )


def _request_body(out: Console, row: RequestRow, outcome: Outcome, now: float) -> None:
    """The request's facts, reasons, arguments (or calls) and context."""
    from rich.text import Text

    hitl: Mapping[str, Any] = row.payload["hitl"]
    views = calls_of(row.payload)
    out.print(_request_facts(row, views, outcome, now))
    reasons = hitl.get("reasons") or []
    if reasons:
        out.print("\n[bold]reasons[/]")
        for reason in reasons:
            out.print(Text("  - ") + text(reason))
    if len(views) == 1:
        out.print("\n[bold]args[/]")
        out.print(Text(json_block(views[0].args)))
    else:
        _print_calls(out, views, outcome)
    if hitl.get("context"):
        out.print("\n[bold]context[/]")
        out.print(Text(json_block(hitl["context"])))


def _history(out: Console, thread_id: str, history: Sequence[Mapping[str, Any]]) -> None:
    from rich.text import Text

    out.print(Text("\nhistory of thread ", style="bold") + text(thread_id, style="bold"))
    if history:
        out.print(audit_table(history))
    else:
        out.print("  (no audit events)")


def _decide_line(out: Console, row: RequestRow) -> None:
    """How to decide a pending request of several calls (the per-call options are easy to miss)."""
    from rich.text import Text

    views = calls_of(row.payload)
    if row.status == "pending" and len(views) > 1:
        out.print(Text("\ndecide: ", style="bold") + text(_decide_hint(row, views)))


def show_request(
    out: Console, row: RequestRow, outcome: Outcome, history: Sequence[Mapping[str, Any]], now: float
) -> None:
    """Everything a reviewer needs to decide `row` (or what became of it), then the thread's audit trail."""
    _request_body(out, row, outcome, now)
    _history(out, row.thread_id, history)
    _decide_line(out, row)


_STATUS = {"pending": "pending", "deciding": "being decided", "resumed": "decided"}


def _requests_table(requests: Sequence[tuple[RequestRow, Outcome]]) -> Table:
    from rich.table import Table

    from ._render import RISK_STYLE

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("request", "status", "by", "node", "action", "risk", "interrupt", "asked (UTC)"):
        table.add_column(name, overflow="fold", no_wrap=name in ("request", "asked (UTC)"))
    for row, _ in requests:
        views = calls_of(row.payload)
        table.add_row(
            text(row.request_id[:SHORT]),
            text(_STATUS.get(row.status, row.status)),
            text(row.decided_by or "-"),
            text(f"{row.node} (stage {row.stage})"),
            text(", ".join(v.name for v in views) or row.action_name),
            text(row.risk, style=RISK_STYLE.get(row.risk, "")),
            text(row.interrupt_id),
            text(iso(row.created_at)[:19].replace("T", " ")),
        )
    return table


def show_thread(
    out: Console,
    thread_id: str,
    requests: Sequence[tuple[RequestRow, Outcome]],
    history: Sequence[Mapping[str, Any]],
    now: float,
) -> None:
    """A thread's requests, oldest first (one line each, the pending ones then in full), then its audit trail."""
    from rich.text import Text

    waiting = [(row, outcome) for row, outcome in requests if row.status == "pending"]
    count = f"{len(waiting)} request" + ("" if len(waiting) == 1 else "s")
    head = Text("thread ", style="bold") + text(thread_id, style="bold")
    out.print(head + Text(f": waits on {count}" if waiting else ": waits on no request"))
    if requests:
        out.print(_requests_table(requests))
    else:
        out.print("  (no requests: it never paused for a decision)")
    for row, outcome in waiting:
        out.print()
        _request_body(out, row, outcome, now)
        _decide_line(out, row)
    _history(out, thread_id, history)
