"""`ExecuteNode`: run an approved action once, through the execution ledger."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from langchain_core.runnables import RunnableConfig

from .._canonical import check_json
from .._events import make_event
from ..errors import PolicyError
from ._common import approvals_for, approvals_needed, event_time, resolve_store, thread_id_of

__all__ = ["ExecuteNode", "Handler"]

Handler = Callable[..., Any]
"""`handler(args)` or `handler(args, *, idempotency_key)`; returns a JSON-able result."""


def _takes_key(fn: Handler) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "idempotency_key" or p.kind is p.VAR_KEYWORD for p in params)


def _jsonable(value: Any) -> Any:
    try:
        check_json(value, where="result")
    except TypeError:
        return {"repr": repr(value)[:2000]}
    return value


class ExecuteNode:
    """Dispatch the approved action to its handler, at most once per action (G4, G5).

    Runs only when `status` is `approved` and the approvals the assessment needs are
    recorded; anything else is skipped, so a rejection never executes. With a ledger
    (given here, or the runner's store) a completed action is never run again: a re-run
    after a resume or a crash returns the recorded result. Handlers that accept
    `idempotency_key` receive the action id, so their target can drop a repeated effect in
    the window between the effect and the ledger record.

    Args:
        handlers: Action name -> handler.
        ledger: A `Ledger`, a `Store`, or a store URL such as `sqlite:///hitl.db`; None uses
            the runner's store when `Approvals` drives the graph.
        action_key: The state key holding the action.
        name: The node's name in the graph.

    Example:
        ```python
        def delete_record(args, *, idempotency_key):
            db.delete(args["table"], args["id"], request=idempotency_key)
            return {"deleted": args["id"]}

        builder.add_node("execute", ExecuteNode({"delete_record": delete_record}))
        ```
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        ledger: Any = None,
        action_key: str = "action",
        name: str = "execute",
    ) -> None:
        bad = [k for k, v in handlers.items() if not callable(v)]
        if bad:
            msg = f"handlers {bad!r} are not callable; map each action name to a function."
            raise PolicyError(msg)
        self.handlers = dict(handlers)
        self._keyed = {k: _takes_key(v) for k, v in handlers.items()}
        self.ledger = ledger
        self.action_key = action_key
        self.name = name

    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if state.get("status") != "approved":
            return {}
        action = state[self.action_key]
        action_id: str = state.get("action_id") or ""
        assessment = state.get("assessment") or {}
        thread_id = thread_id_of(config)
        approved = assessment.get("mode") in ("auto", "notify") or (
            len(approvals_for(state.get("decisions") or [], action_id)) >= max(1, approvals_needed(assessment))  # type: ignore[arg-type]
        )

        def outcome(status: str, result: Any, event: str, detail: dict[str, Any]) -> dict[str, Any]:
            return {"status": status, "result": result, "audit_trail": [make_event(
                event, action_id=action_id, actor="executor", thread_id=thread_id, action=action,
                assessment=assessment, outcome="success" if status == "executed" else "error", detail=detail,
                ts=event_time(config))]}

        if not approved:
            return outcome("failed", None, "failed", {"error": "no approval recorded for this action; not run"})
        handler = self.handlers.get(action["name"])
        if handler is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            return outcome("failed", None, "failed", {"error": f"no handler for {action['name']!r}; handlers: {known}"})
        store = resolve_store(self.ledger, config)
        ledger = getattr(store, "ledger", store)
        audit = getattr(store, "audit", None)
        entry = None
        with store.transaction() if hasattr(store, "transaction") else nullcontext():
            if audit is not None:  # G4: the approval is in the log before the effect happens
                audit.append([e for e in state.get("audit_trail") or [] if e.get("action_id") == action_id])
            if ledger is not None:
                entry = ledger.begin(action_id, idempotency_key=action_id, action=action["name"], thread_id=thread_id)
        if entry is not None:
            if entry.status == "completed":
                return outcome("executed", entry.result, "executed", {"replayed": True})
            if entry.status == "failed":
                return outcome("failed", None, "failed", {"error": entry.error, "replayed": True})
        try:
            if self._keyed[action["name"]]:
                result = handler(action["args"], idempotency_key=action_id)
            else:
                result = handler(action["args"])
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if ledger is not None:
                ledger.fail(action_id, error)
            return outcome("failed", None, "failed", {"error": error})
        result = _jsonable(result)
        if ledger is not None:
            ledger.complete(action_id, result)
        return outcome("executed", result, "executed", {})
