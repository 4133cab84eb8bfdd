"""Reversing an executed action: `Approvals.reverse` and `Approvals.reversible` (and async twins).

A handler registered as `Handler(do=..., undo=...)` can be reversed after it ran. The
compensation goes the way the action went:

- **Policy.** It is gated as the action `reverse:NAME` with the action's arguments: list that
  name in the policy to set its gate (unlisted, it is an unknown action: hard-gated, one approval
  by anyone but the runner). A `deny` gate refuses every reversal; the requirement's `approvers`
  say who may ask; `required_approvals=2` needs two distinct people to ask before it runs (the
  first call returns `status="pending"`). Each ask is the approval: a `reversal_requested` event
  by that person, with the reason.
- **Ledger.** It runs at most once, under its own key `reverse:ACTION_ID`; a second `reverse`
  returns the recorded outcome. A compensation that takes `idempotency_key` receives that key,
  and after a crash it is retried with it (the target drops the repeat); one that does not is
  recorded as failed, "outcome unknown", never run twice. Halts cover it as they cover the action.
- **Audit.** `reversal_requested`, then `reversed` or `reversal_failed`, on the original action's
  id (so `audit.query(action_id=...)` tells the whole story), with the digest its receipts bound.

`reversible()` lists executed actions (fully or partially reversible, with a compensation, not yet
reversed) for `Requirement(review_after_s=...)` after they ran: the "may be reversed until" list.
After the window an action can still be reversed; it is no longer listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._canonical import check_json, iso, stable_id
from .._events import make_event
from .._lookalikes import looks_like
from ..errors import AuthorizationError, HaltedError
from ..identity import canonical, canonical_list
from ..nodes.handlers import accepts
from ..store.lease import hold
from .reversal_parts import (
    REVERSE_PREFIX,
    Executed,
    ReversalError,
    ReversibleAction,
    compensation,
    executed_action,
    policy_of,
    reversible_actions,
)

__all__ = ["AsyncReverseMethods", "Reversal", "ReversalError", "ReverseMethods", "ReversibleAction"]


@dataclass(frozen=True)
class Reversal:
    """What `reverse` did."""

    action_id: str
    """The original action."""
    action: str
    reversal_id: str
    """The compensation's ledger key (`reverse:ACTION_ID`) and idempotency key."""
    status: Literal["pending", "reversed", "failed"]
    """`pending`: more people must ask (`needed`); `reversed`: the compensation returned `result`;
    `failed`: it raised, or its outcome is unknown (`error`)."""
    requested_by: list[str]
    needed: int
    result: Any = None
    error: str | None = None
    replayed: bool = False
    """True when the outcome was recorded before: nothing ran this time."""


def _event(run: Executed, name: str, actor: str, detail: dict[str, Any], event_id: str, ts: str) -> Any:
    return make_event(
        name,
        action_id=run.action_id,
        actor=actor,
        thread_id=run.thread_id,
        action={"name": run.name, "args": run.args},
        assessment={
            "reversibility": run.reversibility,
            "risk": run.risk,
            "policy_version": run.policy_version,
        },
        request_id=run.request_id,
        outcome={"reversed": "success", "reversal_failed": "error"}.get(name),
        detail={"reverses": run.action_id, "digest": run.digest, **detail},
        event_id=event_id,
        ts=ts,
    )


def _authorize(runner: Any, run: Executed, who: str, reason: str) -> int:
    """How many distinct people must ask; refuses (audited) someone the policy does not allow."""
    assessment = policy_of(runner.graph).assess({"name": REVERSE_PREFIX + run.name, "args": run.args})
    problem = None
    if assessment["mode"] == "deny":
        problem = f"the policy denies {REVERSE_PREFIX}{run.name} ({'; '.join(assessment['reasons'])})"
    else:
        allowed = canonical_list(assessment["approvers"]) or []
        if allowed and not any(who == a for a in allowed):
            problem = f"{who!r} may not reverse {run.name!r}; allowed: {', '.join(allowed)}"
    if problem is not None:
        ts = iso(runner.clock())
        detail = {"reversal": True, "reason": reason, "error": problem}
        runner.store.audit.append(
            [_event(run, "refused", who, detail, stable_id(run.action_id, "rev-refused", who, ts), ts)]
        )
        raise AuthorizationError(problem + f" (action id {run.action_id}). Ask an allowed approver.")
    return max(1, int(assessment["required_approvals"]))


def _requesters(runner: Any, run: Executed) -> list[str]:
    """The distinct people (lookalikes counted once) who asked to reverse the action."""
    people: list[str] = []
    for ev in runner.store.audit.query(action_id=run.action_id, event="reversal_requested"):
        if not any(looks_like(ev["actor"], p) for p in people):
            people.append(ev["actor"])
    return people


def reverse_action(runner: Any, ident: str, approver: str, reason: str) -> Reversal:
    """`Approvals.reverse` (documented there), for both runners."""
    who = canonical(approver, field="approver")
    if not isinstance(reason, str) or not reason.strip():
        msg = f"reason {reason!r}: say why the action is reversed (it goes into the audit log)."
        raise ValueError(msg)
    store = runner.store
    run = executed_action(store, ident, runner._row)
    other = _other_graph(runner, run.thread_id)
    if other:
        msg = (
            f"Action {run.name!r} (action id {run.action_id}) ran in graph {other!r}, not in this runner's "
            f"{runner.name!r}: its compensation and policy are that graph's. Reverse it with a runner opened "
            f"with name={other!r}."
        )
        raise ReversalError(msg)
    undo = compensation(runner.graph, run.name, run.action_id)
    key = REVERSE_PREFIX + run.action_id
    needed = _authorize(runner, run, who, reason[:2000])
    recorded = store.ledger.get(key)
    if recorded is not None and recorded.finished:  # reversed (or failed) before: nothing runs again
        return _outcome(run, key, recorded, _requesters(runner, run), needed, replayed=True)
    ts = iso(runner.clock())
    detail = {"reason": reason[:2000], "reversal_id": key}
    store.audit.append([_event(run, "reversal_requested", who, detail, stable_id(key, "requested", who), ts)])
    people = _requesters(runner, run)
    if len(people) < needed:
        return Reversal(run.action_id, run.name, key, "pending", people, needed)
    with hold(store.backend, ttl=runner.lease_s):
        return _compensate(runner, run, undo, key, people, needed)


def _other_graph(runner: Any, thread_id: str | None) -> str:
    """The name of the other graph that ran `thread_id` ('' when it is this runner's, or either has no name)."""
    if not runner.name or not thread_id:
        return ""
    graph: str = runner.store.halts.graphs_of([thread_id]).get(thread_id, "")
    return graph if graph and graph != runner.name else ""


def _listed(runner: Any, moment: float) -> list[ReversibleAction]:
    """`reversible_actions` of this runner's graph (another named graph's actions are its runner's)."""
    found = reversible_actions(runner.store, runner.graph, moment)
    if not runner.name:
        return found
    graphs = runner.store.halts.graphs_of(sorted({a.thread_id for a in found if a.thread_id}))
    return [a for a in found if graphs.get(a.thread_id or "", "") in ("", runner.name)]


def _begin(runner: Any, run: Executed, key: str) -> Any:
    """The reversal's ledger entry; a halt's refusal is audited in the transaction that checked it."""
    store = runner.store
    halted = None
    with store.transaction():
        try:
            return store.ledger.begin(
                key, idempotency_key=key, action=REVERSE_PREFIX + run.name, thread_id=run.thread_id
            )
        except HaltedError as exc:
            halted = exc
            halt = getattr(exc, "halt", None)
            detail = {
                "reason": "halted",
                "reversal": True,
                "error": str(exc),
                "halt_id": getattr(halt, "id", None),
            }
            event_id = stable_id(key, "refused", "halted", str(getattr(halt, "id", "")))
            store.audit.append([_event(run, "refused", "executor", detail, event_id, iso(runner.clock()))])
    raise halted


def _compensate(runner: Any, run: Executed, undo: Any, key: str, people: list[str], needed: int) -> Reversal:
    store = runner.store
    entry = _begin(runner, run, key)
    if entry.finished:
        return _outcome(run, key, entry, people, needed, replayed=True)
    keyed = accepts(undo, "idempotency_key")
    if entry.attempts > 1 and not keyed:
        return _failed(
            runner, run, key, people, needed,
            f"outcome unknown: an earlier attempt at reversing {run.name!r} stopped while its compensation ran, "
            "and the compensation takes no idempotency_key, so it is not run again (it could repeat the "
            "effect). Check the target system; declare `idempotency_key` on the compensation to retry safely.",
        )  # fmt: skip
    kwargs: dict[str, Any] = {}
    if keyed:
        kwargs["idempotency_key"] = key
    if accepts(undo, "result"):
        kwargs["result"] = run.result
    try:
        result = undo(run.args, **kwargs)
    except Exception as exc:
        return _failed(runner, run, key, people, needed, f"{type(exc).__name__}: {exc}"[:2000])
    try:
        check_json(result, where="compensation result")
    except TypeError:
        result = {"repr": repr(result)[:2000]}
    with store.transaction():
        store.ledger.complete(key, result)
        detail = {"reversal_id": key, "requested_by": people, "result": result, "attempts": entry.attempts}
        store.audit.append(
            [_event(run, "reversed", "executor", detail, stable_id(key, "reversed"), iso(runner.clock()))]
        )
    return Reversal(run.action_id, run.name, key, "reversed", people, needed, result=result)


def _failed(runner: Any, run: Executed, key: str, people: list[str], needed: int, error: str) -> Reversal:
    store = runner.store
    with store.transaction():
        store.ledger.fail(key, error)
        detail = {"reversal_id": key, "requested_by": people, "error": error}
        store.audit.append(
            [
                _event(
                    run, "reversal_failed", "executor", detail, stable_id(key, "failed"), iso(runner.clock())
                )
            ]
        )
    return Reversal(run.action_id, run.name, key, "failed", people, needed, error=error)


def _outcome(
    run: Executed, key: str, entry: Any, people: list[str], needed: int, *, replayed: bool
) -> Reversal:
    status: Literal["reversed", "failed"] = "reversed" if entry.status == "completed" else "failed"
    return Reversal(run.action_id, run.name, key, status, people, needed, entry.result, entry.error, replayed)


class ReverseMethods:
    """`Approvals`' reversal methods (see the module docstring)."""

    def reverse(self, request_id: str, *, approver: str, reason: str) -> Reversal:
        """Run the compensation of the action `request_id` approved (or of the action with that id).

        Args:
            request_id: The request whose approved action ran (id or 6+ character prefix), or the
                executed action's id (an auto-approved action has no request).
            approver: Who asks; authenticated by the caller, checked against the policy's
                requirement for `reverse:NAME`.
            reason: Why, for the audit log.

        Returns:
            A `Reversal`: `reversed`, `failed`, or `pending` while more people must ask.

        Raises:
            ReversalError: No compensation is registered (the message says how), or the action
                never ran, did not complete, or is a compensation itself.
            NotPendingError: No such request or action.
            AuthorizationError: The policy does not let `approver` reverse it (audited `refused`).
            HaltedError: A halt covers the action: nothing ran; ask again after `unhalt`.
            ConflictError: Another process is running this compensation now.
        """
        return reverse_action(self, request_id, approver, reason)

    def reversible(self, *, now: float | None = None) -> list[ReversibleAction]:
        """Executed actions that may be reversed, soonest closing first (`Requirement.review_after_s`)."""
        runner: Any = self
        return _listed(runner, runner.clock() if now is None else now)


class AsyncReverseMethods:
    """`AsyncApprovals`' reversal methods: `ReverseMethods`, awaited (the compensation runs in a
    worker thread)."""

    async def reverse(self, request_id: str, *, approver: str, reason: str) -> Reversal:
        """`Approvals.reverse`, awaited."""
        runner: Any = self
        done: Reversal = await runner._db(reverse_action, self, request_id, approver, reason)
        return done

    async def reversible(self, *, now: float | None = None) -> list[ReversibleAction]:
        """`Approvals.reversible`, awaited."""
        runner: Any = self
        moment = runner.clock() if now is None else now
        found: list[ReversibleAction] = await runner._db(_listed, runner, moment)
        return found
