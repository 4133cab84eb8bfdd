"""Store helpers the commands share: open the database, find a request by id or prefix (no typer, no LangGraph)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._errors import CLIError, ExitCode
from ._render import SHORT
from ._settings import Settings

if TYPE_CHECKING:
    from ..store import Store
    from ..store.inbox import RequestRow

__all__ = ["RISKS", "check_pending", "find_request", "open_db", "usage_error"]

RISKS = ("low", "medium", "high", "critical")
"""The risk levels, lowest first."""


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
