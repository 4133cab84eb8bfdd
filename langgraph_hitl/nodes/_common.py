"""Helpers the nodes share: reading the run's config, finding the store, counting approvals."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.runnables import RunnableConfig

from .._canonical import iso, now_iso, stable_id
from ..types import Assessment, DecisionRecord

_OPENED: dict[str, Any] = {}
_OPEN_LOCK = threading.Lock()



def thread_id_of(config: RunnableConfig | None) -> str | None:
    """The run's thread id, if it has one."""
    conf = (config or {}).get("configurable") or {}
    tid = conf.get("thread_id")
    return None if tid is None else str(tid)


def step_key(config: RunnableConfig | None, node: str) -> str:
    """A key for this node's run that is stable across resumes of the same task."""
    meta = (config or {}).get("metadata") or {}
    return stable_id(thread_id_of(config), meta.get("langgraph_checkpoint_ns", ""), meta.get("langgraph_step", ""), node)


def resolve_store(explicit: Any, config: RunnableConfig | None) -> Any:
    """The store a node should write to: its own (object or URL, opened once), else the runner's."""
    if isinstance(explicit, str):
        with _OPEN_LOCK:
            store = _OPENED.get(explicit)
            if store is None:
                from ..store import open_store

                store = _OPENED[explicit] = open_store(explicit)
            return store
    if explicit is not None:
        return explicit
    conf = (config or {}).get("configurable") or {}
    return conf.get("hitl_store")


def event_time(config: RunnableConfig | None) -> str:
    """ISO 8601 time for an audit event: the runner's clock when a runner drives the graph, else now."""
    store = ((config or {}).get("configurable") or {}).get("hitl_store")
    clock = getattr(store, "clock", None)
    return iso(clock()) if callable(clock) else now_iso()


def approvals_for(decisions: list[DecisionRecord], action_id: str) -> list[str]:
    """Distinct approvers whose answer approved `action_id` (approve, edit, or approve-on-timeout)."""
    seen: list[str] = []
    for rec in decisions:
        if rec["action_id"] == action_id and rec["effect"] in ("approved", "edited"):
            approver = rec["approver"] or ""
            if approver not in seen:
                seen.append(approver)
    return seen


def approvals_needed(assessment: Assessment) -> int:
    """How many distinct approvals the action needs before it may run."""
    return int(assessment.get("required_approvals", 1) or 0)
