"""Helpers the nodes share: reading the run's config, finding the store, counting approvals."""

from __future__ import annotations

import os
import secrets
import unicodedata
from collections import UserString
from typing import Any

from langchain_core.runnables import RunnableConfig

from .._canonical import iso, now_iso, stable_id


def run_config() -> RunnableConfig | None:
    """The config of the run in progress (for edge conditions, which LangGraph calls without one), or None."""
    from langgraph.config import get_config

    try:
        return get_config()
    except RuntimeError:  # called outside a run
        return None


def thread_id_of(config: RunnableConfig | None) -> str | None:
    """The run's thread id, if it has one."""
    conf = (config or {}).get("configurable") or {}
    tid = conf.get("thread_id")
    return None if tid is None else str(tid)


def step_key(config: RunnableConfig | None, node: str) -> str:
    """A key for this node's run that is stable across resumes of the same task."""
    meta = (config or {}).get("metadata") or {}
    return stable_id(
        thread_id_of(config), meta.get("langgraph_checkpoint_ns", ""), meta.get("langgraph_step", ""), node
    )


def as_store(value: Any, *, where: str) -> Any:
    """`value` if a node can write through it (a `Store`, a log or ledger object, or None).

    Nodes never open a database themselves: who opens it closes it, and a node cannot know when
    the last run is over.

    Raises:
        TypeError: `value` is a URL (or other text), naming the fix.
    """
    if value is None:
        return None
    if not isinstance(value, str | bytes | bytearray | os.PathLike | UserString) and any(
        hasattr(value, name) for name in ("seal_key", "audit", "append", "begin", "transaction")
    ):
        return value  # a Store, an AuditLog or a Ledger (or an object shaped like one)
    if isinstance(value, str | bytes | bytearray | os.PathLike | UserString):
        raw = os.fspath(value) if isinstance(value, os.PathLike) else value
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
        shown = text if len(text) <= 80 else f"{text[:77]}..."
        msg = (
            f"{where}={shown!r} is a URL; nodes take a store object, never a URL. Open it once and pass "
            f"it: `store = open_store({shown!r})` (`from langgraph_hitl import open_store`; close it when "
            "you are done), or leave it out under Approvals, which hands the nodes its own."
        )
        raise TypeError(msg)
    msg = (
        f"{where}={value!r:.80} is not a store: pass what open_store(url) returns (or an AuditLog / Ledger), "
        "or leave it out under Approvals, which hands the nodes its own."
    )
    raise TypeError(msg)


def resolve_store(explicit: Any, config: RunnableConfig | None) -> Any:
    """The store a node should write to: its own, else the runner's."""
    if explicit is not None:
        return as_store(explicit, where="store")
    conf = (config or {}).get("configurable") or {}
    return conf.get("hitl_store")


def event_time(config: RunnableConfig | None) -> str:
    """ISO 8601 time for an audit event: the runner's clock when a runner drives the graph, else now."""
    store = ((config or {}).get("configurable") or {}).get("hitl_store")
    clock = getattr(store, "clock", None)
    return iso(clock()) if callable(clock) else now_iso()


def runner_store(config: RunnableConfig | None) -> Any:
    """The `Store` object the runner put in the run's config, or None.

    A remote client can put any JSON in `configurable`, never a `Store` object: what this
    returns was put there by `Approvals` in this process.
    """
    store = ((config or {}).get("configurable") or {}).get("hitl_store")
    if store is None:
        return None
    # What `isinstance(store, StoreLike)` checks, without a runtime Protocol check's ~20 us (the
    # nodes ask about 8 times a run); `tests/test_nodes.py` keeps the names in step with it.
    return store if all(hasattr(store, name) for name in STORE_MEMBERS) else None


STORE_MEMBERS = ("seal_key", "transaction")
"""`protocols.StoreLike`'s members."""


SEAL_KEY_ENV = "LANGGRAPH_HITL_AUDIT_KEY"
"""Environment variable with the key that seals state when no store is given (e.g. on LangGraph Server)."""

_PROCESS_KEY = secrets.token_bytes(32)


def seal_key_of(config: RunnableConfig | None, explicit: Any = None) -> bytes:
    """The key that seals what the nodes keep in state (receipts, assessments, audit events).

    In order: the runner's store's, the node's own store's, `LANGGRAPH_HITL_AUDIT_KEY` (or the
    file `LANGGRAPH_HITL_AUDIT_KEY_FILE` names), and last a random key of this process. There is always a key, so a forged or unsealed value is
    never trusted; with the process key, what one process sealed is not trusted by another
    (a resume there asks again), so deployments without a store set the variable.
    """
    store = runner_store(config) or resolve_store(explicit, None)
    key = getattr(store, "seal_key", None) if store is not None else None
    if isinstance(key, bytes) and key:
        return key
    from .._keys import audit_key_from_env

    return audit_key_from_env() or _PROCESS_KEY


def decider_of(
    config: RunnableConfig | None, answer: Any, *, trust_answer: bool
) -> tuple[str | None, str | None]:
    """Who answered, from the run's config, and why not when nobody can be named.

    The runner's own key (`hitl_decider`, honoured only beside the runner's `Store`), then
    LangGraph Server's authenticated user (`langgraph_auth_user_id`), then, only behind the
    development switch, the answer's own `approver` field.
    """
    from ..identity import SYSTEM_PREFIX

    conf = (config or {}).get("configurable") or {}
    if runner_store(config) is not None and isinstance(conf.get("hitl_decider"), str):
        return conf["hitl_decider"], None
    user = conf.get("langgraph_auth_user_id")
    who: Any = None
    if isinstance(user, str) and user.strip():
        who = user
    elif trust_answer:
        who = answer.get("approver") if isinstance(answer, dict) else getattr(answer, "approver", None)
        if not isinstance(who, str):
            return None, "the answer names no approver"
    if isinstance(who, str):
        folded = unicodedata.normalize("NFKC", who).casefold().strip()
        if folded.startswith(SYSTEM_PREFIX):  # timeouts and escalations come from the runner alone (G10)
            return None, f"{who!r} is a name reserved for the runner; only Approvals issues system decisions"
        return who, None
    return None, (
        "no authenticated identity in the run's config: resume through Approvals.decide, behind LangGraph "
        "Server authentication (langgraph_auth_user_id), or build the node with trust_answer_identity=True "
        "for development only; an answer's own 'approver' field is not trusted"
    )


def decided_at_of(config: RunnableConfig | None) -> str:
    """When the decision was accepted: the runner's claim time, else the event time."""
    conf = (config or {}).get("configurable") or {}
    at = conf.get("hitl_decided_at")
    return at if runner_store(config) is not None and isinstance(at, str) else event_time(config)
