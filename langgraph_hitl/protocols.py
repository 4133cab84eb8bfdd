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
    """

    def on_pending(self, request: ReviewRequest, *, thread_id: str | None) -> None:
        """A review request was raised and awaits a decision."""

    def on_decision(self, request_id: str, decision: Mapping[str, Any], *, thread_id: str | None) -> None:
        """A reviewer decided `request_id`."""

    def on_timeout(self, request_id: str, *, thread_id: str | None, outcome: str) -> None:
        """Nobody decided `request_id` in time; `outcome` is what the runner did instead."""
