"""Store helpers the commands share: open the database, find a request by id, prefix or thread (no typer, no LangGraph)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..types import RISKS
from ._errors import CLIError, ExitCode
from ._render import SHORT
from ._settings import Settings

if TYPE_CHECKING:
    from ..store import Store
    from ..store.inbox import RequestRow

__all__ = [
    "RISKS",
    "check_pending",
    "check_target",
    "check_thread",
    "find_request",
    "find_target",
    "find_thread_request",
    "open_db",
    "unknown_thread",
    "usage_error",
]


@contextmanager
def open_db(settings: Settings) -> Iterator[Store]:
    """The store at the settings' database, which must exist; closed on exit."""
    from ..store import open_store

    with open_store(settings.require_database(), hmac_key=settings.audit_key) as store:
        yield store


def find_request(store: Store, request_id: str) -> RequestRow:
    """The row for an id or a unique prefix of at least 6 characters, whatever its status."""
    row = store.inbox.get(request_id)
    if row is not None:
        return row
    hint = "List waiting requests with `langgraph-hitl pending`; ids may be shortened to 6+ characters."
    matches = store.inbox.find(request_id) if len(request_id) >= 6 else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(m.request_id[:SHORT] for m in matches)
        msg = f"Request prefix {request_id!r} matches several requests ({ids})."
        raise CLIError(msg, code=ExitCode.NOT_FOUND, hint="Type more characters of the id.")
    short = " (a prefix needs at least 6 characters)" if len(request_id) < 6 else ""
    msg = f"No request {request_id!r} in the inbox{short}."
    raise CLIError(msg, code=ExitCode.NOT_FOUND, hint=hint)


def check_thread(thread: str | None) -> None:
    """Refuse an empty `--thread` (it would match nothing, silently)."""
    if thread == "":
        msg = "--thread is empty."
        raise usage_error(msg, "Give the thread's id exactly as the run was started with it.")


def check_target(
    request: str | None, thread: str | None, *, command: str, interrupt_id: str | None = None
) -> None:
    """Exactly one of REQUEST and `--thread`; `--interrupt-id` only with `--thread`."""
    if request is not None and thread is not None:
        msg = f"`{command}` takes a request or --thread, not both."
        hint = f"Drop one: `langgraph-hitl {command} REQUEST ...` or `langgraph-hitl {command} --thread THREAD ...`."
        raise usage_error(msg, hint)
    if request is None and thread is None:
        msg = f"`{command}` needs a request id or --thread THREAD."
        raise usage_error(
            msg, "List what waits, with request ids and threads, with `langgraph-hitl pending`."
        )
    check_thread(thread)
    if interrupt_id is not None and thread is None:
        msg = "--interrupt-id picks one of a thread's requests, but no --thread was given."
        raise usage_error(msg, "Add --thread THREAD, or name the request by its id alone.")


def unknown_thread(thread: str) -> CLIError:
    """The error for a thread the inbox and the audit log have never seen."""
    msg = f"No thread {thread!r} in the inbox: it never paused for a decision here, or its id differs."
    hint = "Thread ids match exactly (case too, no prefixes); `langgraph-hitl pending` lists the threads that wait."
    return CLIError(msg, code=ExitCode.NOT_FOUND, hint=hint)


def _not_waiting(store: Store, thread: str) -> CLIError:
    """The error for a thread that waits on nothing: unknown, or its last request no longer pending."""
    from ._outcome import status_words

    rows = store.inbox.by_thread(thread)
    if not rows:
        return unknown_thread(thread)
    last = rows[-1]
    msg = f"Thread {thread!r} waits on no request: its last, {last.request_id[:SHORT]}, is {status_words(last)}."
    code = ExitCode.CONFLICT if last.status == "deciding" else ExitCode.NOT_FOUND
    return CLIError(
        msg, code=code, hint=f"See its story with `langgraph-hitl show --thread {shlex.quote(thread)}`."
    )


def find_thread_request(store: Store, thread: str, interrupt_id: str | None = None) -> RequestRow:
    """The request `thread` waits on, by the rules of `Approvals.resume`: its one pending request,
    or the one `interrupt_id` names. The thread id matches exactly (an index lookup).

    Raises:
        CLIError: Unknown or finished thread, or no such interrupt (3); a request being
            decided (4); several pending and no `interrupt_id` (2), listing them.
    """
    rows, _ = store.inbox.pending(thread_id=thread, limit=500)
    shown = shlex.quote(thread)
    if interrupt_id is not None:
        picked = [r for r in rows if r.interrupt_id == interrupt_id]
        if not picked and rows:
            msg = f"Thread {thread!r} has no pending request with interrupt id {interrupt_id!r}."
            hint = (
                f"`langgraph-hitl pending --thread {shown}` lists what it waits on, with each interrupt id."
            )
            raise CLIError(msg, code=ExitCode.NOT_FOUND, hint=hint)
        rows = picked
    if not rows:
        raise _not_waiting(store, thread)
    if len(rows) > 1:
        listed = "; ".join(
            f"{r.request_id[:SHORT]} (node {r.node!r}, {r.action_name}, interrupt id {r.interrupt_id})"
            for r in rows
        )
        msg = f"Thread {thread!r} waits on {len(rows)} requests: {listed}."
        hint = f"Pick one with --thread {shown} --interrupt-id ID, or name it by its request id."
        raise usage_error(msg, hint)
    return rows[0]


def find_target(
    store: Store, request: str | None, thread: str | None, interrupt_id: str | None = None
) -> RequestRow:
    """The row a deciding command names: by request id or prefix, or by thread (see `check_target`)."""
    if thread is not None:
        return find_thread_request(store, thread, interrupt_id)
    return find_request(store, request or "")


def check_pending(row: RequestRow) -> None:
    """Refuse a request that can no longer be decided, before the graph is imported (the runner checks again)."""
    if row.status == "pending":
        return
    if row.status in ("deciding", "resumed"):
        answer = row.decision or {}
        batch = answer.get("decisions") if isinstance(answer.get("decisions"), list) else None
        what = ", ".join(str(d.get("type")) for d in batch) if batch else answer.get("type", "?")
        msg = (
            f"Request {row.request_id} was already decided by {row.decided_by!r} ({what}); one decision wins."
        )
        raise CLIError(
            msg, code=ExitCode.CONFLICT, hint=f"See it with `langgraph-hitl show {row.request_id[:SHORT]}`."
        )
    msg = f"Request {row.request_id} is {row.status}, no longer pending; it cannot be decided."
    raise CLIError(msg, code=ExitCode.NOT_FOUND, hint="List waiting requests with `langgraph-hitl pending`.")


def usage_error(message: str, hint: str) -> CLIError:
    """A `CLIError` with exit code 2."""
    return CLIError(message, code=ExitCode.USAGE, hint=hint)
