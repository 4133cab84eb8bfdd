"""The runner's collaborators as protocols: the store the nodes are handed, and notifiers.

No LangGraph, no I/O: the lowest layer, so nodes and runners can be typed against them without
importing the store or the notifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .types import ReviewRequest

__all__ = ["Notifier", "StoreLike"]


@runtime_checkable
class StoreLike(Protocol):
    """What the nodes need of the store the runner hands them (`store.Store`): its seal key and
    one transaction for every table. A JSON value (all a remote client can put in a run's
    config) has neither, so it is never taken for a store."""

    @property
    def seal_key(self) -> bytes:
        """The key that seals receipts, assessments and audit events kept in graph state."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction shared by every table."""
        ...


class Notifier(Protocol):
    """What the runner calls when a request is raised, decided or times out; must not block or raise.

    A notifier may implement only the hooks it needs: the runner calls each one it has, and logs
    (never raises) what one raises. `notify.WebhookNotifier` and `notify.SlackNotifier` are two.

    Optional hooks, looked up by name (a notifier without them keeps working):

    - `on_executed(request_id: str, *, thread_id: str | None, action: str, outcome: str)`: the
      handler of an action that review request `request_id` approved ran; `action` is the action's
      name, `outcome` is `executed` (it returned) or `failed` (it raised, had no handler, or its
      outcome is unknown after a crash). Called once per execution, after the run (`start`,
      `decide`, `recover`, ...) that recorded it in the audit log; actions nobody reviewed
      (auto-approved) are not announced.
    - `on_halt(event: dict)`: the stop switch was set or lifted (`Approvals.halt` / `unhalt`), after
      it committed. `event` is plain JSON: `{"event": "halted" | "unhalted", "halt": {"id", "scope",
      "reason", "actor", "created_at", "lifted_at", "lifted_by"}, "actor", "reason", "ts"}`.
    """

    def on_pending(self, request: ReviewRequest, *, thread_id: str | None) -> None:
        """A review request was raised and awaits a decision."""

    def on_decision(self, request_id: str, decision: Mapping[str, Any], *, thread_id: str | None) -> None:
        """A reviewer decided `request_id`."""

    def on_timeout(self, request_id: str, *, thread_id: str | None, outcome: str) -> None:
        """Nobody decided `request_id` in time; `outcome` is what the runner did instead."""
