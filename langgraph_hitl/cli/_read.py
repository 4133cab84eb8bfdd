"""What the reading commands do: `pending`, `show`, `audit`, `stats`.

They read langgraph-hitl's own tables through `open_store` and never import LangGraph, typer
or pydantic, so the fast path in `_fast` can run them without loading the typer app.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import TYPE_CHECKING, Any, TextIO, cast

from ._common import RISKS, check_target, check_thread, find_request, open_db, unknown_thread, usage_error
from ._errors import CLIError, ExitCode
from ._halt_lines import halt_notes, print_halt_notes
from ._outcome import outcome_of
from ._render import audit_table, console, pending_table, print_json, request_dict, stats_view, text
from ._safe import JsonLines, json_visible
from ._settings import Settings
from ._show import show_request, show_thread

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["run_audit", "run_pending", "run_show", "run_stats"]


def run_pending(
    settings: Settings,
    *,
    approver: str | None = None,
    risk: str | None = None,
    thread: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    as_json: bool = False,
) -> None:
    """List pending requests, newest first (`pending`); with `thread`, only that thread's."""
    if risk is not None and risk not in RISKS:
        msg = f"--risk {risk!r} is not a risk level."
        raise usage_error(msg, f"Use one of: {', '.join(RISKS)}.")
    check_thread(thread)
    with open_db(settings) as store:
        try:
            rows, next_cursor = store.inbox.pending(
                approver=approver, risk=risk, limit=limit, cursor=cursor, thread_id=thread
            )
        except ValueError as exc:
            raise usage_error(str(exc), "Pass the cursor exactly as `pending` printed it.") from None
        now = store.clock()
        halted = halt_notes(store, rows)
    if as_json:
        items = [{**request_dict(r), "halted": halted.get(r.request_id)} for r in rows]
        print_json({"items": items, "next_cursor": next_cursor})
        return
    out = console()
    print_halt_notes(out, halted)
    filtered = approver or risk or cursor
    if not rows:
        where = "" if thread is None else f" on thread {thread!r}"
        out.print(text(f"No pending requests{where}" + (" for these filters." if filtered else ".")))
        return
    out.print(pending_table(rows, now, interrupts=thread is not None))
    more = f"; next page: --cursor {next_cursor}" if next_cursor else ""
    if thread is None:
        out.print(f"\n{len(rows)} pending{more}. Details: langgraph-hitl show REQUEST", highlight=False)
        return
    shown = shlex.quote(thread)
    out.print()
    out.print(
        text(f"{len(rows)} pending on thread {thread!r}{more}. Details: langgraph-hitl show --thread {shown}")
    )


def run_show(
    settings: Settings, *, request: str | None = None, thread: str | None = None, as_json: bool = False
) -> None:
    """Show one request in full and its thread's audit history (`show`); or, with `thread`,
    every request of the thread (the pending ones in full) and its history."""
    check_target(request, thread, command="show")
    if thread is not None:
        _show_thread(settings, thread, as_json=as_json)
        return
    with open_db(settings) as store:
        row = find_request(store, request or "")
        history = store.audit.query(thread_id=row.thread_id)
        outcome = outcome_of(store, row, history)
        now = store.clock()
        halted = halt_notes(store, [row] if row.status == "pending" else [])
    if as_json:
        request_json = {**request_dict(row), "halted": halted.get(row.request_id)}
        print_json({"request": request_json, "outcome": outcome.to_dict(), "history": history})
        return
    print_halt_notes(console(), halted)
    show_request(console(), row, outcome, history, now)


def _show_thread(settings: Settings, thread: str, *, as_json: bool) -> None:
    """`show --thread`: the thread's requests, oldest first, each as `show REQUEST` has it, and its history."""
    with open_db(settings) as store:
        rows = store.inbox.by_thread(thread)
        history = store.audit.query(thread_id=thread)
        if not rows and not history:
            raise unknown_thread(thread)
        outcomes = [outcome_of(store, row, history) for row in rows]
        now = store.clock()
    if as_json:
        requests = [
            {"request": request_dict(r), "outcome": o.to_dict()} for r, o in zip(rows, outcomes, strict=True)
        ]
        print_json({"thread_id": thread, "requests": requests, "history": history})
        return
    show_thread(console(), thread, list(zip(rows, outcomes, strict=True)), history, now)


def run_audit(
    settings: Settings,
    *,
    thread: str | None = None,
    request: str | None = None,
    actor: str | None = None,
    event: list[str] | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    verify: bool = False,
    as_json: bool = False,
) -> None:
    """Tail and filter the audit log, or verify its hash chain (`audit`)."""
    from ..store.audit import AUDIT_EVENTS

    unknown = sorted(set(event or ()) - AUDIT_EVENTS)
    if unknown:
        msg = f"--event {', '.join(unknown)}: no such audit event."
        raise usage_error(msg, f"Events: {', '.join(sorted(AUDIT_EVENTS))}.")
    with open_db(settings) as store:
        if verify:
            _verify(store, as_json=as_json)
            return
        request_id = find_request(store, request).request_id if request else None
        filters: dict[str, Any] = {
            "thread_id": thread,
            "request_id": request_id,
            "actor": actor,
            "event": event,
            "action": action,
            "since": since,
            "until": until,
        }
        try:
            if as_json and not limit:
                store.audit.export_jsonl(cast("TextIO", JsonLines(sys.stdout)), **filters)
                return
            records = list(reversed(store.audit.query(**filters, limit=limit or None, descending=True)))
        except ValueError as exc:
            raise usage_error(
                str(exc), "Times are ISO 8601, e.g. 2026-01-31 or 2026-01-31T09:30:00+00:00."
            ) from None
    if as_json:
        out = sys.stdout
        for rec in records:
            line = json.dumps(rec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            out.write(json_visible(line) + "\n")
        return
    if not records:
        console().print("No audit events match.")
        return
    console().print(audit_table(records))


def _verify(store: Store, *, as_json: bool) -> None:
    result = store.audit.verify()
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_bad_seq": result.first_bad_seq,
                "reason": result.reason,
                "head_hash": result.head_hash,
                "cut_seq": result.cut_seq,
            }
        )
    if not result.ok:
        msg = f"Audit log failed verification at seq {result.first_bad_seq}: {result.reason}"
        raise CLIError(
            msg,
            code=ExitCode.AUDIT_BROKEN,
            hint=f"Rows {result.cut_seq + 1}-{result.cut_seq + result.checked} verify; restore from a backup "
            "and find out who wrote to the database.",
        )
    if not as_json:
        pruned = (
            f", from the signed checkpoint at seq {result.cut_seq} (older rows archived)"
            if result.cut_seq
            else ""
        )
        console().print(
            f"Audit log verified: {result.checked} events{pruned}, hash chain intact (head {result.head_hash[:16]})."
        )


def run_stats(
    settings: Settings, *, since: str | None = None, min_samples: int = 20, as_json: bool = False
) -> None:
    """Decision counts, rates and times per gate, action and approver (`stats`)."""
    from ..store.metrics import compute_stats

    with open_db(settings) as store:
        try:
            data = compute_stats(store.backend, since=since, min_samples=min_samples)
        except ValueError as exc:
            raise usage_error(str(exc), "Times are ISO 8601, e.g. 2026-01-31.") from None
    if as_json:
        print_json(data)
        return
    stats_view(console(), data)
