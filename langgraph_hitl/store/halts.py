"""The stop switch (`hitl_halts`): halts that stop handlers from starting, until lifted.

A halt has a scope: everything (`all`), one graph (`graph:NAME`, the name the runner was opened
with) or one action (`action:NAME`). While a halt is on, no handler under its scope starts:
`Ledger.begin` checks the active halts in the transaction that would start the ledger entry, so a
halt that has committed stops every later start, in every process. The check and `halt()` both
hold the audit chain's lock until they commit (Postgres: an advisory lock; SQLite: `BEGIN
IMMEDIATE` serializes writers anyway), so a start already past its check commits before the halt
does, and a start after it sees the halt. One lock, always taken first, so no two of them deadlock.

Rows are never deleted: `unhalt()` records who lifted a halt and when, so the table is the switch's
history. The `halted` / `unhalted` audit events are written in the same transaction.

Example:
    ```python
    halt = store.halts.halt("action:send_email", reason="bounce storm", actor="alice")
    store.halts.blocking(action="send_email", thread_id=None)  # -> the halt
    store.halts.unhalt("action:send_email", actor="alice", reason="fixed")
    ```
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .._canonical import iso
from .._events import make_event
from .._lookalikes import skeleton
from .._name_checks import check_characters, check_scripts
from ..errors import AuthorizationError, HaltedError, NotPendingError
from ..identity import canonical
from ._db import Backend

__all__ = ["Halt", "HaltScope", "Halts", "ScopeKind", "halted_error"]

ScopeKind = Literal["all", "graph", "action"]
"""What a halt covers: `all` (every handler), `graph` (one runner's graph, by the name it was
opened with) or `action` (one action name, and its compensation `reverse:NAME`)."""

_KINDS: tuple[ScopeKind, ...] = ("all", "graph", "action")
_COLUMNS = "id, scope_kind, scope_value, reason, actor, created_at, lifted_at, lifted_by"


@dataclass(frozen=True)
class HaltScope:
    """A halt's scope, written `all`, `graph:NAME` or `action:NAME`.

    Names match exactly (the way handlers and graphs are looked up): no case folding. A name with
    invisible or control characters, mixed scripts, surrounding spaces or a form that Unicode
    normalization would change is refused, so a halt never names a lookalike of the real name.
    """

    kind: ScopeKind
    value: str = ""

    @classmethod
    def parse(cls, scope: str | HaltScope) -> HaltScope:
        """`all`, `graph:NAME` or `action:NAME` as a `HaltScope`.

        Raises:
            ValueError: Another form, or a name that is empty, too long or not plain text.
        """
        if isinstance(scope, HaltScope):
            return cls(scope.kind, scope.value)._checked()
        if not isinstance(scope, str):
            msg = f"Halt scope {scope!r} is a {type(scope).__name__}; write 'all', 'graph:NAME' or 'action:NAME'."
            raise ValueError(msg)
        if scope == "all":
            return cls("all")
        kind, sep, value = scope.partition(":")
        if not sep or kind not in ("graph", "action"):
            msg = f"Halt scope {ascii(scope)[:80]} is not 'all', 'graph:NAME' or 'action:NAME' (lower case)."
            raise ValueError(msg)
        return cls(kind, value)._checked()  # type: ignore[arg-type]

    def _checked(self) -> HaltScope:
        if self.kind not in _KINDS:
            msg = f"Halt scope kind {self.kind!r}. Allowed: {', '.join(_KINDS)}."
            raise ValueError(msg)
        if self.kind == "all":
            if self.value:
                msg = f"Halt scope 'all' takes no name (got {self.value!r})."
                raise ValueError(msg)
            return self
        value = self.value
        where = f"halt scope {self.kind}:{ascii(value)[:80]}"
        if not isinstance(value, str) or not value or len(value) > 200:
            msg = f"The {where} needs a name of 1-200 characters: the exact {self.kind} name."
            raise ValueError(msg)
        if value != value.strip() or unicodedata.normalize("NFKC", value) != value:
            msg = (
                f"The {where} has surrounding spaces or characters Unicode writes another way; "
                f"give the {self.kind} name exactly as the graph uses it."
            )
            raise ValueError(msg)
        try:
            check_characters(value, value, f"{self.kind} name")
            check_scripts(value, value, f"{self.kind} name")
        except AuthorizationError as exc:
            msg = f"The {where} is refused: {exc}"
            raise ValueError(msg) from None
        return self

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value}"

    def covers(self, *, action: str, graph: str | None) -> bool:
        """Whether this scope covers `action` (or its compensation, `reverse:NAME`) on `graph`."""
        if self.kind == "all":
            return True
        if self.kind == "graph":
            return graph is not None and graph == self.value
        return self.value in _names(action)


def _names(action: str) -> tuple[str, ...]:
    """The action names a halt of an action covers: the action, and for a compensation its action too."""
    return (action, action[len("reverse:") :]) if action.startswith("reverse:") else (action,)


@dataclass(frozen=True)
class Halt:
    """One halt, active or lifted."""

    id: int
    scope: HaltScope
    reason: str
    actor: str
    """Who halted (canonical)."""
    created_at: float
    lifted_at: float | None = None
    lifted_by: str | None = None

    @property
    def active(self) -> bool:
        """True until the halt is lifted."""
        return self.lifted_at is None

    def describe(self) -> str:
        """One line for people: `halted (action:send_email) by alice: bounce storm`."""
        return f"halted ({self.scope}) by {self.actor}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, with ISO 8601 times."""
        return {
            "id": self.id,
            "scope": str(self.scope),
            "reason": self.reason,
            "actor": self.actor,
            "created_at": iso(self.created_at),
            "lifted_at": iso(self.lifted_at) if self.lifted_at is not None else None,
            "lifted_by": self.lifted_by,
        }

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> Halt:
        """Build from a database row."""
        return cls(
            id=int(row["id"]),
            scope=HaltScope(row["scope_kind"], row["scope_value"] or ""),
            reason=row["reason"],
            actor=row["actor"],
            created_at=float(row["created_at"]),
            lifted_at=None if row["lifted_at"] is None else float(row["lifted_at"]),
            lifted_by=row["lifted_by"],
        )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{what} {value!r}: say why, in a few words (it goes into the audit log)."
        raise ValueError(msg)
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:2000]


class Halts:
    """The stop switch's table: set, lift, list and check halts.

    Args:
        backend: The database connection (from `open_store`).
        clock: Returns the epoch time.
        audit: The audit log the `halted` / `unhalted` events go to (same transaction).
    """

    def __init__(self, backend: Backend, *, clock: Callable[[], float], audit: Any = None) -> None:
        self.backend = backend
        self.clock = clock
        self.audit = audit
        self._table = False

    def _ready(self) -> bool:
        """Whether the table exists: False on a database below migration 6 (opened with
        `setup=False`), where no halt can have been set; asked again until it is there."""
        if not self._table:
            rows = self.backend.execute("SELECT MAX(version) AS v FROM hitl_schema_version")
            self._table = bool(rows) and int(rows[0]["v"] or 0) >= 6
        return self._table

    def _lock(self) -> None:
        """Order this transaction against every halt, lift and start (see the module docstring)."""
        self.backend.lock_audit_chain()

    def halt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """Set a halt on `scope` and audit it (`halted`); returns it once committed.

        Setting a halt that is already on (same scope) returns the active one, unchanged.

        Raises:
            ValueError: A bad scope or an empty reason.
            AuthorizationError: `actor` is not a valid name.
        """
        parsed, who, why = HaltScope.parse(scope), canonical(actor, field="actor"), _text(reason, "reason")
        with self.backend.transaction():
            self._lock()
            found = self._active_for(parsed)
            if found is not None:
                return found
            self._refuse_near_miss(parsed)
            rows = self.backend.execute(
                f"INSERT INTO hitl_halts (scope_kind, scope_value, reason, actor, created_at) "
                f"VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (parsed.kind, parsed.value, why, who, self.clock()),
            )
            halt = Halt.from_db(rows[0])
            self._audit("halted", halt, who, why)
        return halt

    def unhalt(self, scope: str | HaltScope, *, reason: str, actor: str) -> Halt:
        """Lift the active halt on exactly `scope` and audit it (`unhalted`).

        Raises:
            NotPendingError: No halt is on for that scope (the active ones are listed).
            ValueError: A bad scope or an empty reason.
            AuthorizationError: `actor` is not a valid name.
        """
        parsed, who, why = HaltScope.parse(scope), canonical(actor, field="actor"), _text(reason, "reason")
        with self.backend.transaction():
            self._lock()
            found = self._active_for(parsed)
            if found is None:
                listed = ", ".join(str(h.scope) for h in self.active()) or "none"
                msg = f"No halt is on for scope {str(parsed)!r} (active: {listed}); scopes match exactly."
                raise NotPendingError(msg)
            rows = self.backend.execute(
                f"UPDATE hitl_halts SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL "
                f"RETURNING {_COLUMNS}",
                (self.clock(), who, found.id),
            )
            lifted = Halt.from_db(rows[0])
            self._audit("unhalted", lifted, who, why)
        return lifted

    def _refuse_near_miss(self, scope: HaltScope) -> None:
        """Refuse a name the database has never seen that differs from one it has only in case or
        lookalike letters (`action:Send_Email` for `send_email`): such a halt would cover nothing."""
        if scope.kind == "all":
            return
        if scope.kind == "action":
            known = "SELECT 1 FROM hitl_audit WHERE action = ? LIMIT 1"
            names = "SELECT DISTINCT action AS name FROM hitl_audit WHERE action IS NOT NULL"
        else:
            known = "SELECT 1 FROM hitl_threads WHERE graph = ? LIMIT 1"
            names = "SELECT DISTINCT graph AS name FROM hitl_threads"
        if self.backend.execute(known, (scope.value,)):
            return
        shape = skeleton(scope.value.casefold())
        for row in self.backend.execute(names):
            name = row["name"] or ""
            if name.startswith("reverse:"):
                name = name[len("reverse:") :]
            if name and name != scope.value and skeleton(name.casefold()) == shape:
                msg = (
                    f"Halt scope {ascii(str(scope))[:80]} names no {scope.kind} seen here, but {name!r} "
                    f"differs from it only in case or lookalike letters: halt '{scope.kind}:{name}' "
                    "(names match exactly, so the other would cover nothing)."
                )
                raise ValueError(msg)

    def _audit(self, event: str, halt: Halt, actor: str, reason: str) -> None:
        if self.audit is None:
            return
        self.audit.append(
            [
                make_event(
                    event,
                    action_id=f"halt-{halt.id}",
                    actor=actor,
                    thread_id=None,
                    action={"name": str(halt.scope), "args": {}} if halt.scope.kind == "action" else None,
                    detail={"halt_id": halt.id, "scope": str(halt.scope), "reason": reason},
                    event_id=uuid.uuid4().hex,
                    ts=iso(self.clock()),
                )
            ]
        )

    def _active_for(self, scope: HaltScope) -> Halt | None:
        rows = self.backend.execute(
            f"SELECT {_COLUMNS} FROM hitl_halts WHERE lifted_at IS NULL AND scope_kind = ? "
            "AND (scope_kind = 'all' OR scope_value = ?) ORDER BY id LIMIT 1",  # `all` stops all, whatever its value
            (scope.kind, scope.value),
        )
        return Halt.from_db(rows[0]) if rows else None

    def active(self) -> list[Halt]:
        """The halts on now, oldest first."""
        if not self._ready():
            return []
        rows = self.backend.execute(f"SELECT {_COLUMNS} FROM hitl_halts WHERE lifted_at IS NULL ORDER BY id")
        return [Halt.from_db(r) for r in rows]

    def history(self, *, limit: int = 100) -> list[Halt]:
        """Every halt, newest first, lifted ones included."""
        if not self._ready():
            return []
        rows = self.backend.execute(f"SELECT {_COLUMNS} FROM hitl_halts ORDER BY id DESC LIMIT ?", (limit,))
        return [Halt.from_db(r) for r in rows]

    def covering(self, *, action: str, graph: str | None, halts: list[Halt] | None = None) -> Halt | None:
        """The oldest active halt (of `halts`, else read now) covering `action` on `graph`."""
        for halt in self.active() if halts is None else halts:
            if halt.scope.covers(action=action, graph=graph):
                return halt
        return None

    def blocking(self, *, action: str, thread_id: str | None) -> Halt | None:
        """The active halt covering `action` run on `thread_id` (its graph is the one the runner
        recorded for the thread), read in the caller's transaction; None when nothing stops it.

        Call inside the transaction that starts the handler's ledger entry: it then takes the lock
        `halt()` takes, so a halt committing meanwhile waits for that transaction.
        """
        if not self._ready():
            return None
        if self.backend.in_transaction:
            self._lock()
        rows = self.backend.execute(
            f"SELECT {_COLUMNS} FROM hitl_halts WHERE lifted_at IS NULL AND (scope_kind = 'all' "
            f"OR (scope_kind = 'action' AND scope_value IN (?, ?)) "
            "OR (scope_kind = 'graph' AND scope_value = (SELECT graph FROM hitl_threads WHERE thread_id = ?))) "
            "ORDER BY id LIMIT 1",
            (*(_names(action) * 2)[:2], thread_id),
        )
        return Halt.from_db(rows[0]) if rows else None

    def graphs_of(self, thread_ids: list[str]) -> dict[str, str]:
        """The graph (the runner's `name=`) recorded for each of `thread_ids` a runner has driven."""
        found: dict[str, str] = {}
        for start in range(0, len(thread_ids), 500):
            chunk = thread_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.backend.execute(
                f"SELECT thread_id, graph FROM hitl_threads WHERE thread_id IN ({marks})", tuple(chunk)
            )
            found.update((r["thread_id"], r["graph"] or "") for r in rows)
        return found

    def check(self, *, action: str, thread_id: str | None) -> None:
        """Raise `HaltedError` if a halt covers `action` on `thread_id` (see `blocking`)."""
        halt = self.blocking(action=action, thread_id=thread_id)
        if halt is not None:
            raise halted_error(halt, action)


def halted_error(halt: Halt, action: str) -> HaltedError:
    """The error saying `action` did not start because of `halt`, and how it goes on."""
    msg = (
        f"{action!r} was not started: {halt.describe()} (halt {halt.id}). Nothing is lost: the run stays "
        f"where it is; lift the halt with unhalt({str(halt.scope)!r}) (CLI: langgraph-hitl unhalt), "
        "then the runner's resume_halted() (the web inbox: Operations, Continue stopped runs) continues it."
    )
    err = HaltedError(msg)
    err.halt = halt  # type: ignore[attr-defined]
    return err
