"""`ExecuteNode`: run an approved action once, through the execution ledger."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from .._canonical import check_json, stable_id
from .._events import make_event, trusted_events
from ..errors import HaltedError, PolicyError
from ..receipts import action_digest, seal
from ..telemetry import traced_execution
from ._common import as_store, event_time, resolve_store, seal_key_of, thread_id_of
from ._view import view
from .handlers import Handler, HandlerLike, compensation_of, do_of
from .review import authorize

__all__ = ["ExecuteNode", "Handler", "execute_condition"]


def _takes(fn: HandlerLike, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def _jsonable(value: Any) -> Any:
    try:
        check_json(value, where="result")
    except TypeError:
        return {"repr": repr(value)[:2000]}
    return value


class ExecuteNode:
    """Dispatch the approved action to its handler, at most once per action (G4, G5).

    Runs only when `status` is `approved` and the receipts in state meet the assessment's
    requirement for exactly this action (G9): the digest of the action about to run must be
    the one the gate assessed and the reviewers approved. Otherwise nothing runs, a `refused`
    event says why, and `status` goes back to `proposed` (`execute_condition` routes it to review).
    A rejection never executes. With a ledger
    (given here, or the runner's store) a completed action is never run again: a re-run
    after a resume or a crash returns the recorded result. Handlers that accept
    `idempotency_key` receive the action id, so their target can drop a repeated effect in
    the window between the effect and the ledger record; handlers that accept `receipts`
    receive the approvals that authorized the call (check them with `receipts.verify`).

    Args:
        handlers: Action name -> handler.
        ledger: A `Ledger` or a `Store` (from `open_store(url)`; a URL is refused); None uses
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
        handlers: Mapping[str, HandlerLike],
        *,
        ledger: Any = None,
        action_key: str = "action",
        name: str = "execute",
    ) -> None:
        bad = [k for k, v in handlers.items() if not callable(v)]
        if bad:
            msg = f"handlers {bad!r} are not callable; map each action name to a function."
            raise PolicyError(msg)
        self.handlers = {k: do_of(v) for k, v in handlers.items()}
        self.compensations = {k: u for k, v in handlers.items() if (u := compensation_of(v)) is not None}
        """Action name -> its compensation (`Handler(undo=...)`), which `Approvals.reverse` runs."""
        self._keyed = {k: _takes(v, "idempotency_key") for k, v in self.handlers.items()}
        self._receipted = {k: _takes(v, "receipts") for k, v in self.handlers.items()}
        self.ledger = as_store(ledger, where="ledger")
        self.action_key = action_key
        self.name = name

    @traced_execution  # a span per call when OpenTelemetry is configured (see `telemetry`)
    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
        if state.get("status") != "approved":
            return {}
        action = state[self.action_key]
        thread_id = thread_id_of(config)
        key = seal_key_of(config, self.ledger)
        occurrence = state.get("action_occurrence") or ""
        digest = action_digest(action, thread_id=thread_id, occurrence=occurrence)
        action_id = digest[:32]
        assessment: Any = state.get("assessment") or {}
        ts = event_time(config)

        def outcome(status: str, result: Any, event: str, detail: dict[str, Any]) -> dict[str, Any]:
            return {
                "status": status,
                "result": result,
                "audit_trail": [
                    seal(
                        make_event(
                            event,
                            action_id=action_id,
                            actor="executor",
                            thread_id=thread_id,
                            action=action,
                            assessment=assessment,
                            outcome="success" if status == "executed" else "error",
                            detail=detail,
                            ts=ts,
                        ),
                        key,
                    )
                ],
            }

        receipts, problem = authorize(state, assessment, digest, key)
        if problem is not None:
            # G9: never fail open. The action goes back to review (see `execute_condition`).
            back = outcome("proposed", None, "refused", {"error": f"not run: {problem}", "digest": digest})
            return {**back, "action_id": action_id}
        handler = self.handlers.get(action["name"])
        if handler is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            return outcome(
                "failed", None, "failed", {"error": f"no handler for {action['name']!r}; handlers: {known}"}
            )
        store = resolve_store(self.ledger, config)
        ledger = getattr(store, "ledger", store)
        held = getattr(ledger, "held", None)
        # The ledger entry is leased while the handler runs, however long: nobody starts it again meanwhile.
        with held() if held is not None else nullcontext():
            return self._dispatch(
                _Run(state, action, action_id, thread_id, receipts, key, ts), store, ledger, handler, outcome
            )

    @staticmethod
    def _admit(run: _Run, store: Any, fresh: list[Any]) -> list[dict[str, Any]]:
        """The trail's new events of this action (G11), settling in the inbox the requests a
        plain `Command(resume=...)` answered (see `Inbox.settle_decided`)."""
        kept = [
            e
            for e in trusted_events(fresh, key=run.key, thread_id=run.thread_id, ts=run.ts)
            if e.get("action_id") == run.action_id or e.get("actor") == "system:audit"
        ]
        inbox = getattr(store, "inbox", None)
        if inbox is not None and run.thread_id is not None:
            inbox.settle_decided(run.thread_id, kept)
        return kept

    def _dispatch(
        self,
        run: _Run,
        store: Any,
        ledger: Any,
        handler: HandlerLike,
        outcome: Callable[[str, Any, str, dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        action, action_id = run.action, run.action_id
        audit = getattr(store, "audit", None)
        entry = None
        with store.transaction() if hasattr(store, "transaction") else nullcontext():
            if audit is not None:  # G4: the approval is in the log before the effect happens
                audit.append(run.state.get("audit_trail") or [], admit=partial(self._admit, run, store))
            if ledger is not None:
                entry = _begin(run, ledger, audit)
        if isinstance(entry, HaltedError):
            raise entry  # after the refusal committed; the thread stays before this node (see `_begin`)
        keyed = self._keyed[action["name"]]
        if entry is not None:
            if entry.status == "completed":
                return outcome("executed", entry.result, "executed", {"replayed": True})
            if entry.status == "failed":
                return outcome("failed", None, "failed", {"error": entry.error, "replayed": True})
            if entry.attempts > 1 and not keyed:
                # An earlier attempt died while this handler ran; without an idempotency key its
                # target cannot recognise a repeat, so running it again could repeat the effect.
                error = (
                    f"outcome unknown: an earlier attempt at {action['name']!r} stopped while its handler ran, "
                    "and the handler takes no idempotency_key, so it is not run again (it could repeat the "
                    "effect). Check the target system; declare `idempotency_key` on the handler to have such "
                    "attempts retried safely."
                )
                ledger.fail(action_id, error)
                return outcome("failed", None, "failed", {"error": error, "attempts": entry.attempts})
        kwargs: dict[str, Any] = {}
        if keyed:
            kwargs["idempotency_key"] = action_id
        if self._receipted[action["name"]]:
            kwargs["receipts"] = run.receipts
        try:
            result = handler(action["args"], **kwargs)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if ledger is not None:
                ledger.fail(action_id, error)
            return outcome("failed", None, "failed", {"error": error})
        result = _jsonable(result)
        if ledger is not None:
            ledger.complete(action_id, result)
        return outcome("executed", result, "executed", {"receipts": [r["approver"] for r in run.receipts]})


def _begin(run: _Run, ledger: Any, audit: Any) -> Any:
    """The ledger entry to run, or the `HaltedError` of a halt covering the action.

    A halted action is not started and nothing is counted: a `refused` event (detail `reason`
    `halted`, one per action and halt) is written in the transaction that checked the halt, and
    the node then raises, so LangGraph keeps the thread before this node. Once the halt is
    lifted, `Approvals.resume_halted()` (or `start(thread_id, None)`) runs it again, receipts
    checked anew.
    """
    try:
        return ledger.begin(
            run.action_id, idempotency_key=run.action_id, action=run.action["name"], thread_id=run.thread_id
        )
    except HaltedError as exc:
        halt = getattr(exc, "halt", None)
        if audit is not None:
            detail = {"reason": "halted", "error": str(exc)}
            if halt is not None:
                detail.update(halt_id=halt.id, scope=str(halt.scope), halted_by=halt.actor)
            event = make_event(
                "refused",
                action_id=run.action_id,
                actor="executor",
                thread_id=run.thread_id,
                action=run.action,
                assessment=run.state.get("assessment") or {},
                detail=detail,
                event_id=stable_id(run.action_id, "refused", "halted", str(getattr(halt, "id", ""))),
                ts=run.ts,
            )
            audit.append([event])
        return exc


@dataclass(frozen=True)
class _Run:
    """One execution's inputs, as `ExecuteNode.__call__` worked them out."""

    state: dict[str, Any]
    action: dict[str, Any]
    action_id: str
    thread_id: str | None
    receipts: list[Any]
    key: Any
    ts: str


def execute_condition(state: dict[str, Any]) -> Literal["review", "audit"]:
    """Route after `ExecuteNode`: `review` when it refused to run an action that lacks receipts, else `audit`."""
    state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
    return "review" if state.get("status") == "proposed" else "audit"
