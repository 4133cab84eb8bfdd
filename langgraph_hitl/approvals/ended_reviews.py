"""`record_ended_reviews`: a checkpointer wrapper that records reviews a change to the thread ended.

On LangGraph Server no runner sees a paused thread being ended without a decision (Agent Inbox's
"Mark as Resolved", Studio's state edits, new input to a paused thread): no node runs, only the
checkpointer writes. Wrapped by `record_ended_reviews`, the saver records each such review in the
inbox index as `cancelled` and in the audit log, so it is neither left pending nor lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._canonical import iso, stable_id
from .._events import make_event
from ..identity import as_recorded
from ..receipts import sealed
from ..store import Store
from ..types import ReviewRequest
from .server_requests import is_review_request

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["record_ended_reviews"]

_Saver = TypeVar("_Saver", bound="BaseCheckpointSaver[Any]")

_INTERRUPT, _RESUME, _ERROR = "__interrupt__", "__resume__", "__error__"
"""LangGraph's channels for a paused task's pending writes: its question, an answer sent to it, its
error. Not public API: `tests/test_agent_inbox.py` fails if an ended review stops being recorded."""


def record_ended_reviews(saver: _Saver, store: Store) -> _Saver:
    """Make `saver` record, in `store`, every review that a change to its thread ends without a decision.

    Agent Inbox's "Mark as Resolved" ends a paused thread with
    `threads.updateState(id, {values: null, asNode: "__end__"})` (agent-inbox
    `src/components/agent-inbox/contexts/ThreadContext.tsx`, `ignoreThread`); Studio's state edits
    and new input sent to a paused thread drop its question too. No node of the graph runs, so
    only the checkpointer sees it: when `saver` writes a checkpoint that is not a step of a run
    (source `update`, `input`, ...) after one that waited on langgraph-hitl questions nobody
    answered, this records, after the write, in one transaction:

    - each such request in the inbox index as `cancelled`, with who and why
      (`Inbox.cancel_unanswered`);
    - the thread's audit trail so far (the events langgraph-hitl sealed: the proposal), then a
      `cancelled` row by whoever changed the thread, whose `detail.reason` says the review was
      ended without a decision.

    Who: the run's `langgraph_auth_user_id` (new input), or `user_id`, which LangGraph Server
    sets to the authenticated user on a state update; `unknown` when neither names anyone.
    If recording fails, the error propagates after the checkpoint was saved: the caller sees
    the failure rather than an end nobody recorded.

    Args:
        saver: A checkpointer; its `put` and `aput` are wrapped in place, nothing else changes.
        store: Where to record (the same `HITL_STORE_URL` the graph's nodes write to, so their
            sealed events are recognized).

    Returns:
        `saver`.

    Example:
        ```python
        with open_checkpointer(url) as saver, open_store(url) as store:
            graph = builder.compile(checkpointer=record_ended_reviews(saver, store))
            graph.update_state(config, None, as_node="__end__")  # its pending review: cancelled, audited
        ```
        On LangGraph Server, `examples/server/checkpointer.py` wraps the saver it yields.
    """
    inner_put, inner_aput = saver.put, saver.aput

    def put(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        parent = saver.get_tuple(config) if _may_end(config, metadata) else None
        written = inner_put(config, checkpoint, metadata, new_versions)
        if parent is not None:
            _record_ended(store, parent, config, metadata)
        return written

    async def aput(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        parent = await saver.aget_tuple(config) if _may_end(config, metadata) else None
        written = await inner_aput(config, checkpoint, metadata, new_versions)
        if parent is not None:
            await asyncio.to_thread(_record_ended, store, parent, config, metadata)
        return written

    # On this instance only: every other method, and every other saver, stays as it was.
    setattr(saver, "put", put)  # noqa: B010
    setattr(saver, "aput", aput)  # noqa: B010
    return saver


def _may_end(config: Any, metadata: Any) -> bool:
    """Whether this checkpoint may drop a question: a root checkpoint after another, not a run's step."""
    conf = (config or {}).get("configurable") or {}
    source = (metadata or {}).get("source")
    return source != "loop" and not conf.get("checkpoint_ns") and bool(conf.get("checkpoint_id"))


def _unanswered(writes: Any) -> list[tuple[str, ReviewRequest]]:
    """`(interrupt id, payload)` of each langgraph-hitl question among `writes` whose task never finished."""
    tasks: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in writes or ():
        tasks.setdefault(str(task_id), []).append((channel, value))
    found: list[tuple[str, ReviewRequest]] = []
    for items in tasks.values():
        if any(channel not in (_INTERRUPT, _RESUME, _ERROR) for channel, _ in items):
            continue  # the task wrote its result: it was answered
        for channel, value in items:
            for intr in (
                (value if isinstance(value, (list, tuple)) else [value]) if channel == _INTERRUPT else ()
            ):
                payload = intr.get("value") if isinstance(intr, Mapping) else getattr(intr, "value", None)
                iid = intr.get("id") if isinstance(intr, Mapping) else getattr(intr, "id", None)
                if is_review_request(payload) and iid:
                    found.append((str(iid), cast(ReviewRequest, payload)))
    return found


def _ended_by(conf: Mapping[str, Any]) -> str | None:
    """Who changed the thread, from what LangGraph Server put in the config; None when nobody is named."""
    for key in ("langgraph_auth_user_id", "user_id"):
        raw = conf.get(key)
        if isinstance(raw, str) and raw.strip():
            return as_recorded(raw)
    return None


def _why(source: Any, by: str | None) -> str:
    who = by or "someone (not authenticated)"
    if source == "update":
        how = (
            f"{who} changed the thread's state with update_state before anyone decided (Agent Inbox's "
            '"Mark as Resolved" sends values=null, as_node="__end__", which ends the thread); the question '
            "is no longer asked and its action has not run"
        )
    elif source == "input":
        how = f"{who} sent new input to the paused thread, which drops its question unanswered"
    else:
        how = f"the thread's state changed (checkpoint source {source!r}, by {who}) before anyone decided"
    return f"Review ended without a decision: {how}."


def _record_ended(store: Store, parent: Any, config: Any, metadata: Any) -> None:
    questions = _unanswered(getattr(parent, "pending_writes", None))
    if not questions:
        return
    conf = config["configurable"]
    thread_id = str(conf["thread_id"])
    by, source = _ended_by(conf), (metadata or {}).get("source")
    why = _why(source, by)
    key = store.seal_key
    trail = (getattr(parent, "checkpoint", None) or {}).get("channel_values", {}).get("audit_trail") or []
    proposed = [
        {k: v for k, v in e.items() if k != "seal"}
        for e in trail
        if isinstance(e, dict) and e.get("thread_id") == thread_id and sealed(e, key)
    ]
    parent_id = str((getattr(parent, "config", None) or {}).get("configurable", {}).get("checkpoint_id", ""))
    ended = []
    for _, payload in questions:
        hitl, asked = payload["hitl"], payload["action_requests"][0]
        ended.append(
            make_event(
                "cancelled",
                action_id=hitl["action_id"],
                actor=by or "unknown",
                thread_id=thread_id,
                action={"name": asked["name"], "args": asked["args"]},
                assessment=hitl,
                request_id=hitl["request_id"],
                detail={
                    "reason": why,
                    "by": by,
                    "source": source,
                    "node": hitl["node"],
                    "stage": hitl["stage"],
                },
                event_id=stable_id(hitl["request_id"], "cancelled", parent_id),
                ts=iso(store.clock()),
            )
        )
    with store.transaction():
        store.inbox.cancel_unanswered(
            thread_id,
            [(iid, "", payload) for iid, payload in questions],
            by=by,
            reason=why,
            graph=str(conf.get("graph_id") or ""),
        )
        if proposed:
            store.audit.append(proposed)  # type: ignore[arg-type]
        store.audit.append(ended)
