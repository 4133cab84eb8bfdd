"""Graphs the tests build, importable from subprocesses (`python -c "import graphs"` with tests/ on the path).

Handlers record each external effect in a side table keyed by idempotency key, in a SQLite
file named by the `HITL_EFFECTS_DB` environment variable (or the `effects_db` argument), so
tests can count effects across processes and crashes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import HITLState, Policy, Requirement, Rule, add_approval_flow

TABLE = {
    "read_record": "fully_reversible",
    "update_record": "partially_reversible",
    "send_email": "irreversible_low",
    "delete_record": "irreversible_high",
}


class State(HITLState, total=False):
    task: str


def policy(**overrides: Any) -> Policy:
    """The test policy: prod deletes are critical; optional overrides of Policy fields."""
    kwargs: dict[str, Any] = {
        "actions": TABLE,
        "rules": [
            Rule(
                "prod-delete",
                actions="delete_record",
                when=lambda a: a.get("env") == "prod",
                risk="critical",
                reason="deletes production data",
            )
        ],
        "version": "test-1",
    }
    kwargs.update(overrides)
    return Policy(**kwargs)


def record_effect(key: str, action: str, args: dict[str, Any], effects_db: str | None = None) -> None:
    """Record a handler call (with the calling process), and its effect once per idempotency key
    (the target dedupes by key)."""
    path = effects_db or os.environ.get("HITL_EFFECTS_DB")
    if not path:
        return
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT, action TEXT, ts REAL, pid INTEGER)")
            conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, action TEXT, args TEXT)")
            conn.execute("INSERT INTO calls VALUES (?, ?, ?, ?)", (key, action, time.time(), os.getpid()))
            conn.execute("INSERT OR IGNORE INTO effects VALUES (?, ?, ?)", (key, action, repr(args)))
    finally:
        conn.close()


def count_effects(effects_db: str) -> tuple[dict[str, int], dict[str, int]]:
    """(effects per key, handler calls per key)."""
    conn = sqlite3.connect(effects_db, timeout=30)
    try:
        try:
            effects = dict(conn.execute("SELECT key, COUNT(*) FROM effects GROUP BY key").fetchall())
            calls = dict(conn.execute("SELECT key, COUNT(*) FROM calls GROUP BY key").fetchall())
        except sqlite3.OperationalError:
            return {}, {}
        return effects, calls
    finally:
        conn.close()


def _handler(name: str):
    def handler(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        pause = float(os.environ.get("HITL_HANDLER_SLEEP", "0") or 0)
        record_effect(idempotency_key, name, args)
        if os.environ.get("HITL_KILL_IN_HANDLER"):
            os.kill(os.getpid(), signal.SIGKILL)  # crash between the effect and the ledger record
        if pause:
            time.sleep(pause)
        return {"done": name, "args": args}

    handler.__name__ = name
    return handler


HANDLERS = {name: _handler(name) for name in TABLE}


def _unkeyed_handler(name: str):
    """A handler that takes no idempotency key: its target cannot recognise a repeat."""

    def handler(args: dict[str, Any]) -> dict[str, Any]:
        record_effect(f"unkeyed-{time.time_ns()}", name, args)  # every call is a new effect
        if os.environ.get("HITL_KILL_IN_HANDLER"):
            os.kill(os.getpid(), signal.SIGKILL)
        pause = float(os.environ.get("HITL_HANDLER_SLEEP", "0") or 0)
        if pause:
            time.sleep(pause)
        return {"done": name}

    handler.__name__ = name
    return handler


UNKEYED_HANDLERS = {name: _unkeyed_handler(name) for name in TABLE}


def plan(state: State) -> dict[str, Any]:
    """The test 'agent': the action comes in with the input."""
    return {}


def build(
    *,
    store: Any = None,
    timeout_s: float | None = None,
    on_timeout: str | None = None,
    escalation: list[list[str]] | None = None,
    approvers: list[str] | None = None,
    verify: bool = False,
    unkeyed: bool | None = None,
) -> StateGraph:
    """plan -> approval flow -> END, with the test policy (handlers without idempotency keys
    when `unkeyed`, or env `HITL_UNKEYED_HANDLERS` is set)."""
    req: dict[str, Any] = {}
    if timeout_s is not None:
        req["timeout_s"] = timeout_s
    if on_timeout is not None:
        req["on_timeout"] = on_timeout
    if escalation is not None:
        req["escalation"] = escalation
    if approvers is not None:
        req["approvers"] = approvers
    requirements = {r: Requirement(**req) for r in ("medium", "high")} if req else {}
    if req:
        requirements["critical"] = Requirement(
            required_approvals=2, **{k: v for k, v in req.items() if k != "on_timeout" or v != "approve"}
        )
    pol = policy(requirements=requirements, verify_phrases={"delete_record": "DELETE {id}"} if verify else {})
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_edge(START, "plan")
    if unkeyed is None:
        unkeyed = bool(os.environ.get("HITL_UNKEYED_HANDLERS"))
    handlers = UNKEYED_HANDLERS if unkeyed else HANDLERS
    add_approval_flow(builder, source="plan", target=END, policy=pol, handlers=handlers, store=store)
    return builder


def builder() -> StateGraph:
    """Default graph for CLI tests (`tests/graphs.py:builder`)."""
    return build()


def action(name: str, **args: Any) -> dict[str, Any]:
    """Graph input proposing one action."""
    return {"action": {"name": name, "args": args}}
