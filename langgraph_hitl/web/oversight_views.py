"""Who may use the stop switch from the web inbox, and what its pages show.

`Operators` is the list `create_app(operators=...)` names: approvers who may halt and lift halts
on the Operations page. Names are people's identities (`identity.canonical`), so `"Alice"` and
`"alice"` are one operator, and a name that could pass for another (a lookalike, mixed scripts,
invisible characters) is refused when the app is built, and never matches when someone signs in.

The rest are pure functions of their inputs and `now`, like `views.py`: templates escape every
value they print, so nothing here builds HTML.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ..approvals.reversal import ReversibleAction
from ..errors import HITLError
from ..identity import canonical, canonical_list
from ..store.halts import Halt
from .views import REVERSIBILITY_LABELS, fmt_duration, fmt_time, pretty, thread_url

__all__ = ["SCOPE_KINDS", "Operators", "halt_view", "reversible_view", "scope_of"]

SCOPE_KINDS: tuple[tuple[str, str], ...] = (
    ("all", "Everything (all)"),
    ("graph", "One graph (graph:NAME)"),
    ("action", "One action (action:NAME)"),
)
"""The halt form's scope choices: kind, label."""


class Operators:
    """The approvers allowed to halt and lift halts here (canonical names).

    Args:
        names: The operators' names; each must be an approver of this inbox.
        approvers: The approvers' names as configured (the tokens file's spelling).

    Raises:
        ValueError: `names` is a single string, a name is not acceptable (see
            `identity.canonical`), or names no approver.
    """

    def __init__(self, names: Collection[str] | None, approvers: Sequence[str]) -> None:
        self.names: frozenset[str] = frozenset()
        if names is None:
            return
        try:
            wanted = canonical_list(names, field="operators") or []
        except HITLError as exc:
            msg = f"create_app(operators=...): {exc}"
            raise ValueError(msg) from None
        known = set()
        for name in approvers:
            try:
                known.add(canonical(name))
            except HITLError:
                continue  # such an approver can sign in but is never an operator
        missing = [n for n in wanted if n not in known]
        if missing:
            msg = (
                f"create_app(operators=...): {', '.join(repr(n) for n in missing)} "
                f"{'is not an approver' if len(missing) == 1 else 'are not approvers'} of this inbox "
                f"(approvers: {', '.join(sorted(known)) or 'none'}). Operators sign in with their "
                "approver token: add them to the tokens file, or fix the spelling."
            )
            raise ValueError(msg)
        self.names = frozenset(wanted)

    def allows(self, user: str | None) -> bool:
        """Whether the signed-in `user` is an operator (a name `canonical` refuses never is)."""
        if not user or not self.names:
            return False
        try:
            return canonical(user) in self.names
        except HITLError:
            return False

    def refusal(self, user: str) -> str:
        """The 403 message for `user`, saying who may."""
        if not self.names:
            return (
                "Nobody may halt from this inbox: it was started without operators. Start it with "
                "create_app(operators=['alice']) or `langgraph-hitl serve --operators alice`."
            )
        return (
            f"Only the inbox's operators may halt and lift halts: {', '.join(sorted(self.names))}. "
            f"You are signed in as {user!r}. Ask one of them, or the inbox's administrator to add you "
            "(create_app(operators=...), or serve --operators)."
        )


def scope_of(kind: str, name: str) -> str:
    """The halt scope a form's kind and name say: `all`, `graph:NAME` or `action:NAME`.

    The name is taken exactly as typed (`HaltScope.parse` refuses surrounding spaces and lookalikes).

    Raises:
        ValueError: An unknown kind, a name with `all`, or no name with `graph` / `action`.
    """
    if kind == "all":
        if name:
            msg = f"Scope 'all' takes no name (got {name!r}): clear the name, or choose graph or action."
            raise ValueError(msg)
        return "all"
    if kind not in ("graph", "action"):
        msg = f"Scope kind {kind!r}: choose all, graph or action."
        raise ValueError(msg)
    if not name:
        msg = f"Scope {kind}: give the exact {kind} name to halt (or choose all)."
        raise ValueError(msg)
    return f"{kind}:{name}"


def halt_view(halt: Halt, now: float) -> dict[str, Any]:
    """One halt for the banner and the Operations page."""
    return {
        "id": halt.id,
        "scope": str(halt.scope),
        "kind": halt.scope.kind,
        "reason": halt.reason,
        "actor": halt.actor,
        "since": fmt_time(halt.created_at),
        "ago": fmt_duration(now - halt.created_at),
        "active": halt.active,
        "lifted_at": fmt_time(halt.lifted_at),
        "lifted_by": halt.lifted_by or "",
        "describe": halt.describe(),
    }


def reversible_view(action: ReversibleAction, now: float) -> dict[str, Any]:
    """One row of the "May be reversed" page."""
    return {
        "action_id": action.action_id,
        "action": action.action,
        "args": pretty(action.args),
        "thread_id": action.thread_id or "",
        "thread_url": thread_url(action.thread_id) if action.thread_id else "",
        "executed": fmt_time(action.executed_at),
        "until": fmt_time(action.until),
        "left": fmt_duration(action.until - now),
        "reversibility": REVERSIBILITY_LABELS.get(action.reversibility, action.reversibility),
    }
