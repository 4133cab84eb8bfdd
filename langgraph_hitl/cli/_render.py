"""Turning inbox rows, audit records and stats into rich tables and plain JSON (no LangGraph)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._safe import json_visible, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..store.inbox import RequestRow

__all__ = [
    "RISK_STYLE",
    "SHORT",
    "age",
    "approvers_text",
    "audit_table",
    "console",
    "json_block",
    "pending_table",
    "print_json",
    "refusal_reason",
    "request_dict",
    "stats_view",
    "text",
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
    """Print `value` as indented JSON on stdout (control and bidi characters as `\\uXXXX` escapes)."""
    sys.stdout.write(json_visible(json.dumps(value, indent=2, ensure_ascii=False, default=str)) + "\n")


def text(value: Any, *, style: str = "") -> Text:
    """`value` as rich `Text`: never markup, emoji codes or raw control characters (see `_safe`)."""
    from rich.text import Text

    return Text(visible(str(value)), style=style)


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


def approvers_text(approvers: Sequence[str] | None) -> str:
    """`alice, bob`, or `anyone` when no list is given."""
    return ", ".join(approvers) if approvers else "anyone"


def request_dict(row: RequestRow) -> dict[str, Any]:
    """A request as plain JSON: `PendingRequest.to_dict()`, the one read model (no LangGraph import)."""
    from ..approvals.models import PendingRequest

    return PendingRequest.from_row(row).to_dict()


RISK_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}
"""How each risk level is coloured on a terminal."""


def pending_table(rows: Sequence[RequestRow], now: float, *, interrupts: bool = False) -> Any:
    """The inbox as a table: request, thread, action, risk, age, deadline, approvers.

    A request with several calls (a tool gate's question) takes one line per call, numbered
    as `--call` takes them, each with its own risk and approvers. With `interrupts` (the rows
    of one thread) the thread column gives way to each request's interrupt id, which
    `--interrupt-id` takes.
    """
    from rich.table import Table

    from ._calls import calls_of

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("request", no_wrap=True)
    table.add_column("interrupt" if interrupts else "thread", overflow="fold")
    table.add_column("action", overflow="fold")
    table.add_column("risk", no_wrap=True)
    table.add_column("age", no_wrap=True, justify="right")
    table.add_column("deadline", no_wrap=True)
    table.add_column("approvers", overflow="fold")
    for row in rows:
        overdue = row.deadline is not None and row.deadline <= now
        views = calls_of(row.payload)
        if len(views) <= 1:
            table.add_row(  # Text, not markup: thread ids and names are data, brackets included
                text(row.request_id[:SHORT]),
                text(row.interrupt_id if interrupts else row.thread_id),
                text(row.action_name),
                text(row.risk, style=RISK_STYLE.get(row.risk, "")),
                age(row.created_at, now),
                text(until(row.deadline, now), style="red" if overdue else ""),
                text(approvers_text(row.approvers)),
            )
            continue
        for view in views:
            first = view.index == 1
            table.add_row(
                text(row.request_id[:SHORT] if first else ""),
                text((row.interrupt_id if interrupts else row.thread_id) if first else ""),
                text(f"{view.index} {view.name}" + (f" ({view.call_id})" if view.call_id else "")),
                text(view.risk, style=RISK_STYLE.get(view.risk, "")),
                age(row.created_at, now) if first else "",
                text(until(row.deadline, now) if first else "", style="red" if overdue else ""),
                text(approvers_text(view.approvers)),
            )
    return table


def json_block(value: Any) -> str:
    """`value` as indented JSON for a terminal: sorted keys, control and bidi characters escaped."""
    return json_visible(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def refusal_reason(rec: Mapping[str, Any]) -> str:
    """Why an audit row refused something (`detail.error`, `.message` or `.reason`), or ''."""
    detail = rec.get("detail")
    if not isinstance(detail, dict):
        return ""
    reason = detail.get("error") or detail.get("message") or detail.get("reason") or ""
    return str(reason)


def _result_cell(rec: Mapping[str, Any]) -> str:
    if rec["event"] == "refused":  # its `decision` column holds what was attempted, not what happened
        reason = refusal_reason(rec)
        return f"refused: {reason}" if reason else "refused"
    return str(rec["decision"] or rec["outcome"] or "")


def audit_table(records: Iterable[Mapping[str, Any]]) -> Any:
    """Audit records as a table, in the order given; a refused row shows why it was refused."""
    from rich.table import Table

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
                text(cell)
                for cell in (
                    rec["seq"],
                    str(rec["ts"])[:19].replace("T", " "),
                    rec["event"],
                    rec["actor"],
                    rec["action"] or "",
                    _result_cell(rec),
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
        f"[bold]{totals['decisions']}[/] decisions ({escape(visible(window))}): approved {totals['approved']}, "
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
                text(key),
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
        out.print(Text("flag ", style="yellow") + text(note["message"]))
    _policy_lifecycle_lines(out, stats)


def _policy_lifecycle_lines(out: Console, stats: Mapping[str, Any]) -> None:
    """Rubber-stamp flags (the `reviewers` command shows every approver) and shadow mode's findings."""
    from rich.text import Text

    for who, found in (stats.get("reviewers") or {}).items():
        for flag in found.get("flags") or []:
            said = f"reviewer {who} {flag['flag']}: {flag['message']}"
            out.print(Text("flag ", style="yellow") + text(said))
    shadow = stats.get("shadow") or {}
    if shadow.get("differs") or shadow.get("errors"):
        ways = ", ".join(f"{n} {d}" for d, n in (shadow.get("directions") or {}).items())
        said = f"{shadow['differs']} proposal(s) gated differently ({ways}); {shadow['errors']} error(s)"
        out.print(text(f"shadow policy: {said}"))
