"""The stop switch on the runner: `halt`, `unhalt`, `halts`, `resume_halted` (and async twins).

A halt (`store.halts`) stops every handler under its scope from starting, in every process on
the database, from the moment it commits: `Ledger.begin` checks it in the transaction that would
start the handler. Meanwhile every gate under it is hard (nothing is auto-approved, no timeout
approves) and the inbox shows the halt beside each request it covers.

What the graph does with an action a halt stops: `ExecuteNode` records a `refused` event (detail
`reason` `halted`) and raises `HaltedError`, which `start` / `decide` raise to their caller. The
thread stays where it was (before the execute node, its approvals kept), and nothing was run or
counted. Once the halt is lifted, `resume_halted()` continues every such thread (the execute
node checks the receipts again and runs the handler once). Nothing is lost and nothing is
retried behind an operator's back.

Example:
    ```python
    hitl.halt("action:send_email", reason="bounce storm", actor="alice")
    hitl.pending().items[0].halted  # 'halted (action:send_email) by alice: bounce storm'
    hitl.unhalt("action:send_email", reason="provider fixed", actor="alice")
    hitl.resume_halted()  # the thread ids continued
    ```
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._canonical import iso
from ..errors import ConflictError, HaltedError, NotPendingError, ThreadStateError
from ..store import Store
from ..store.halts import Halt, HaltScope
from ..store.inbox import RequestRow
from .models import PendingRequest

__all__ = ["AsyncHaltMethods", "HaltMethods", "approving_timeout_halted", "mark_halted"]

_SKIP = (HaltedError, ConflictError, NotPendingError, ThreadStateError)
"""Why `resume_halted` leaves a thread for later: still halted, busy, gone or moved on."""


def approving_timeout_halted(store: Store, row: RequestRow) -> bool:
    """Whether `row`'s timeout would approve (a soft gate) while a halt covers one of its actions."""
    hitl = row.payload.get("hitl") or {}
    if hitl.get("on_timeout") != "approve" or hitl.get("mode") != "soft":
        return False
    active = store.halts.active()
    names = [a.get("name", "") for a in row.payload.get("action_requests") or []] or [row.action_name]
    return any(store.halts.covering(action=n, graph=row.graph or None, halts=active) for n in names)


def mark_halted(store: Store, items: list[PendingRequest], rows: list[RequestRow]) -> list[PendingRequest]:
    """`items` (built from `rows`) with `halted` set on those an active halt covers."""
    active = store.halts.active()
    if not active:
        return items
    out = []
    for item, row in zip(items, rows, strict=True):
        halt = store.halts.covering(action=row.action_name, graph=row.graph or None, halts=active)
        out.append(dataclasses.replace(item, halted=halt.describe()) if halt is not None else item)
    return out


def _event(kind: str, halt: Halt, *, actor: str, reason: str) -> dict[str, Any]:
    """What `Notifier.on_halt` receives."""
    return {
        "event": kind,
        "halt": halt.to_dict(),
        "actor": actor,
        "reason": reason,
        "ts": iso(halt.lifted_at or halt.created_at),
    }


def _candidates(store: Store, graph: str) -> list[str]:
    """Threads of `graph` (the runner's `name=`) a halt stopped (a `refused` event with reason
    `halted`) and still holds, oldest first, once each. A thread another named graph recorded is
    left to its own runner: continued here it would run through this graph's nodes and handlers
    (a runner or thread without a name cannot tell, and is continued as before)."""
    history = store.halts.history(limit=1000)
    if not history:
        return []
    since = iso(min(h.created_at for h in history) - 1)
    seen: dict[str, None] = {}
    for event in store.audit.query(event="refused", since=since):
        detail = event.get("detail") or {}
        if isinstance(detail, dict) and detail.get("reason") == "halted" and event.get("thread_id"):
            seen[event["thread_id"]] = None
    graphs = store.halts.graphs_of(list(seen))
    ours = [t for t in seen if not graph or graphs.get(t, "") in ("", graph)]
    return [t for t in ours if _still_stopped(store, t)]


def _still_stopped(store: Store, thread_id: str) -> bool:
    """Whether the thread's last step is still a halt's refusal (reversals of its earlier actions
    aside): once it moved on, a later stop (a breakpoint, say) is not the halt's to continue."""
    for event in store.audit.query(thread_id=thread_id, descending=True, limit=50):
        detail = event.get("detail") or {}
        if isinstance(detail, dict) and "reverses" in detail:
            continue
        return event["event"] == "refused" and isinstance(detail, dict) and detail.get("reason") == "halted"
    return False


def _stopped(state: Any) -> bool:
    """A thread waiting before a node with no question pending: where a halt leaves it."""
    return bool(getattr(state, "next", ())) and not getattr(state, "interrupts", ())


class HaltMethods:
    """`Approvals`' stop switch (see the module docstring)."""

    def halt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """Stop every handler under `scope` from starting, in every process, once this returns.

        Args:
            scope: `all`, `graph:NAME` (the `name=` a runner was opened with) or `action:NAME`;
                names match exactly.
            reason: Why, for the audit log and the inbox.
            actor: Who halts (a person's name; authenticated by the caller).

        Returns:
            The halt, committed and audited (`halted`); the active one if `scope` is already halted.

        Raises:
            ValueError: A bad scope (a lookalike, mixed scripts, spaces) or an empty reason.
            AuthorizationError: `actor` is not a valid name.
        """
        runner: Any = self
        halt: Halt = runner.store.halts.halt(scope, reason=reason, actor=actor)
        runner._notify("on_halt", _event("halted", halt, actor=halt.actor, reason=reason))
        return halt

    def unhalt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """Lift the halt on exactly `scope` (audited `unhalted`); then `resume_halted()`.

        Raises:
            NotPendingError: No halt is on for `scope` (the active ones are named).
            ValueError: A bad scope or an empty reason.
            AuthorizationError: `actor` is not a valid name.
        """
        runner: Any = self
        halt: Halt = runner.store.halts.unhalt(scope, reason=reason, actor=actor)
        runner._notify("on_halt", _event("unhalted", halt, actor=halt.lifted_by or actor, reason=reason))
        return halt

    def halts(self, *, lifted: bool = False) -> list[Halt]:
        """The active halts, oldest first; with `lifted`, every halt, newest first."""
        runner: Any = self
        found: list[Halt] = runner.store.halts.history() if lifted else runner.store.halts.active()
        return found

    def resume_halted(self, *, config: Any = None, context: Any = None) -> list[str]:
        """Continue the threads a halt stopped before a handler, now that nothing covers them.

        Each goes through `start(thread_id, None)`: the execute node checks its receipts again
        and runs the handler once. A thread still halted, busy, gone or moved on is left as it is.

        Returns:
            The thread ids continued.
        """
        runner: Any = self
        done = []
        for thread_id in _candidates(runner.store, runner.name):
            if not _stopped(runner._state(thread_id)):
                continue
            try:
                runner.start(thread_id, None, config=config, context=context)
            except _SKIP:
                continue
            done.append(thread_id)
        return done


class AsyncHaltMethods:
    """`AsyncApprovals`' stop switch: `HaltMethods`, awaited."""

    async def halt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """`Approvals.halt`, awaited."""
        runner: Any = self
        halt: Halt = await runner._db(runner.store.halts.halt, scope, reason=reason, actor=actor)
        runner._notify("on_halt", _event("halted", halt, actor=halt.actor, reason=reason))
        return halt

    async def unhalt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """`Approvals.unhalt`, awaited."""
        runner: Any = self
        halt: Halt = await runner._db(runner.store.halts.unhalt, scope, reason=reason, actor=actor)
        runner._notify("on_halt", _event("unhalted", halt, actor=halt.lifted_by or actor, reason=reason))
        return halt

    async def halts(self, *, lifted: bool = False) -> list[Halt]:
        """`Approvals.halts`, awaited."""
        runner: Any = self
        fn = runner.store.halts.history if lifted else runner.store.halts.active
        found: list[Halt] = await runner._db(fn)
        return found

    async def resume_halted(self, *, config: Any = None, context: Any = None) -> list[str]:
        """`Approvals.resume_halted`, awaited."""
        runner: Any = self
        done = []
        for thread_id in await runner._db(_candidates, runner.store, runner.name):
            if not _stopped(await runner._state(thread_id)):
                continue
            try:
                await runner.start(thread_id, None, config=config, context=context)
            except _SKIP:
                continue
            done.append(thread_id)
        return done
