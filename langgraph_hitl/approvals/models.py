"""What the runners return and take: requests as reviewers see them, pages, run results, run options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._canonical import iso
from ..store.inbox import RequestRow
from ..types import ActionRequest, ReviewRequest

__all__ = ["DURABILITY", "PLAIN", "Page", "PendingRequest", "RecoveryReport", "RunOptions", "RunResult"]


DURABILITY: Literal["sync"] = "sync"
"""How the runner has LangGraph save checkpoints: each step's before the next step starts.

LangGraph's default (`async`) saves in the background while the next node already runs, so a
crash can lose the checkpoint that fixed an action's id after its handler ran; recovery then
re-runs the gate, the action gets a new id, and the handler runs again under a new
idempotency key (G5). With `sync` a node's side effects never get ahead of the state before it.
"""


@dataclass(frozen=True)
class PendingRequest:
    """A question waiting in (or gone from) the inbox, as reviewers and tools see it."""

    request_id: str
    thread_id: str
    node: str
    stage: int
    action: ActionRequest
    risk: str
    status: str
    approvers: list[str] | None
    requested_by: str
    created_at: float
    deadline: float | None
    decided_by: str | None
    decision: dict[str, Any] | None
    payload: ReviewRequest
    interrupt_id: str = ""
    """LangGraph's id of the interrupt that asks it (pass it to `resume(..., interrupt_id=...)`)."""
    halted: str | None = None
    """The active halt covering its action (`halted (SCOPE) by NAME: REASON`), or None: nothing
    runs until it is lifted (see `Approvals.halt`)."""

    @classmethod
    def from_row(cls, row: RequestRow) -> PendingRequest:
        """Build from an inbox row."""
        return cls(
            request_id=row.request_id,
            thread_id=row.thread_id,
            node=row.node,
            stage=row.stage,
            action=row.action,
            risk=row.risk,
            status=row.status,
            approvers=row.approvers,
            requested_by=row.requested_by,
            created_at=row.created_at,
            deadline=row.deadline,
            decided_by=row.decided_by,
            decision=row.decision,
            payload=row.payload,
            interrupt_id=row.interrupt_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, with ISO 8601 times."""
        return {
            "request_id": self.request_id,
            "thread_id": self.thread_id,
            "node": self.node,
            "stage": self.stage,
            "action": self.action,
            "risk": self.risk,
            "status": self.status,
            "approvers": self.approvers,
            "requested_by": self.requested_by,
            "created_at": iso(self.created_at),
            "deadline": iso(self.deadline) if self.deadline else None,
            "decided_by": self.decided_by,
            "decision": self.decision,
            "payload": self.payload,
            "interrupt_id": self.interrupt_id,
            "halted": self.halted,
        }


@dataclass(frozen=True)
class Page:
    """One page of pending requests, newest first."""

    items: list[PendingRequest]
    next_cursor: str | None
    """Pass as `cursor=` for the next page; None on the last page."""


@dataclass(frozen=True)
class RunResult:
    """Where a thread stands after `start`, `decide` or a timeout."""

    thread_id: str
    status: Literal["paused", "done"]
    pending: list[PendingRequest]
    values: dict[str, Any]


@dataclass(frozen=True)
class RunOptions:
    """What one runner call hands to LangGraph besides the input: the caller's run config (merged
    under the runner's own keys by `_Core._config`), the runtime context, and how to stream."""

    config: Mapping[str, Any] | None = None
    """The caller's `RunnableConfig` (callbacks, tags, metadata, recursion_limit, configurable, ...)."""
    context: Any = None
    """LangGraph's runtime context (`context=` of `invoke`), for graphs built with `context_schema`."""
    stream_mode: Any = None
    """LangGraph's `stream_mode` when the caller reads the stream; None runs with `invoke`."""
    subgraphs: bool = False
    """Stream the parts of subgraphs too (LangGraph's `subgraphs=`)."""

    def graph_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `invoke` / `stream` besides the input and the config."""
        kwargs: dict[str, Any] = {"durability": DURABILITY}
        if self.context is not None:
            kwargs["context"] = self.context
        if self.stream_mode is not None:
            kwargs["stream_mode"] = self.stream_mode
            kwargs["subgraphs"] = self.subgraphs
        return kwargs


PLAIN = RunOptions()
"""A run with the runner's config alone: no caller config, no context, invoked."""


@dataclass
class RecoveryReport:
    """What `recover()` did."""

    redriven: list[str] = field(default_factory=list)
    """Requests whose decision was delivered to the graph after a crash."""
    already_resumed: list[str] = field(default_factory=list)
    """Claimed requests the graph had already taken; only the index was updated."""
    continued: list[str] = field(default_factory=list)
    """Threads whose interrupted run was continued to its next pause or end."""
    reindexed: list[str] = field(default_factory=list)
    """Threads whose pending questions were indexed again."""
    failed: dict[str, str] = field(default_factory=dict)
    """Threads recovery could not finish, with why; the others were recovered all the same, and the
    next `recover()` tries these again (their claim or in-flight mark stays)."""
