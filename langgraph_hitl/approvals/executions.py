"""What `on_executed` announces: the executions a run recorded, each with the review request that approved it.

An action's handler runs inside the graph (`ExecuteNode`), which records `executed` or `failed` in
the thread's trail; the runner writes those events to the audit log when it indexes the thread
after a run. The events written then, and only those, are announced, so an execution is
announced once, by the process that recorded it, whichever operation (`start`, `decide`,
`recover`, `expire_overdue`) ran the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..store import Store

__all__ = ["RAN", "announce_executions", "executions"]

log = logging.getLogger("langgraph_hitl")

RAN = ("executed", "failed")
"""The audit events that say a handler ran (`executed`: it returned; `failed`: it raised, had no
handler, or its outcome is unknown after a crash)."""


def executions(store: Store, events: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """`(request_id, on_executed keyword arguments)` for each `executed` / `failed` event among
    `events` whose action a review request decided; an action nobody reviewed (auto-approved) has
    no request and is left out. Never raises: the run it reports on has already succeeded."""
    found: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        if event.get("event") not in RAN or not event.get("action_id"):
            continue
        try:
            request_id = _request_of(store, str(event["action_id"]), event.get("thread_id"))
        except Exception:  # a notification must never fail a run
            log.exception("on_executed: the request that approved %s was not found", event.get("action_id"))
            continue
        if request_id is not None:
            about = {"thread_id": event.get("thread_id"), "action": str(event.get("action") or "")}
            found.append((request_id, {**about, "outcome": str(event["event"])}))
    return found


def _request_of(store: Store, action_id: str, thread_id: Any) -> str | None:
    """The request whose decision let `action_id` run: the newest of its audit rows naming one
    (an edit's approval carries the edited action's id, as the execution does)."""
    rows = store.audit.query(action_id=action_id, thread_id=thread_id, descending=True, limit=50)
    return next((str(r["request_id"]) for r in rows if r.get("request_id")), None)


def announce_executions(
    store: Store, events: Iterable[Mapping[str, Any]], notify: Callable[..., None]
) -> None:
    """Call `notify("on_executed", request_id, thread_id=..., action=..., outcome=...)` for each
    reviewed execution among `events` (the runner's `_notify`, which logs what a hook raises)."""
    for request_id, about in executions(store, events):
        notify("on_executed", request_id, **about)
