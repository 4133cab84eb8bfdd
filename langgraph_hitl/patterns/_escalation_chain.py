"""The walk along an escalation chain: its levels, where each one escalates to, each step's record.

`Chain` is shared by every node of one chain. `step` turns one level's outcome into the state
update: a line of `escalation_path` with its reason and, unless a person's decision already
audited it, a sealed audit event. Escalating with no level left makes the task `unresolved`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from .._canonical import stable_id
from .._events import make_event
from ..nodes._common import event_time, seal_key_of, step_key, thread_id_of
from ..receipts import seal
from .levels import HumanLevel, Level

__all__ = ["Chain"]


class Chain:
    """One escalation chain: its levels, its options, and how each step is recorded."""

    store: Any = None
    """The chain's own store, whose seal key the nodes use when no runner drives the graph."""

    def __init__(
        self,
        levels: Sequence[Level],
        *,
        min_confidence: float,
        sensitive: Callable[[Any, Any], bool | str] | None,
        requested_by: str,
    ) -> None:
        self.levels, self.min_confidence, self.sensitive, self.requested_by = (
            levels,
            min_confidence,
            sensitive,
            requested_by,
        )

    def next_after(self, index: int, *, human_only: bool = False) -> str | None:
        """The level after level `index` (the next human one if `human_only`), or None if none is left."""
        for level in self.levels[index + 1 :]:
            if not human_only or isinstance(level, HumanLevel):
                return level.name
        return None

    def step(
        self,
        state: dict[str, Any],
        config: RunnableConfig,
        index: int,
        *,
        kind: Literal["model", "human"],
        outcome: str,
        reason: str,
        to: str | None = None,
        confidence: float | None = None,
        answer: Any = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """The update recording one step, with its audit event."""
        name = self.levels[index].name
        if outcome == "escalated" and to is None:
            outcome, reason = "unresolved", f"{reason}; no level left to escalate to"
        event = {
            "resolved": "approved" if kind == "human" else "auto_approved",
            "escalated": "escalated",
            "rejected": "rejected",
            "unresolved": "rejected",
        }[outcome]
        action = {"name": "answer", "args": {"task": state.get("task"), "answer": answer}}
        actor = by or (name if kind == "model" else "system")
        update: dict[str, Any] = {
            "escalation_path": [
                {
                    "level": name,
                    "kind": kind,
                    "outcome": outcome,
                    "reason": reason,
                    "to": to,
                    "confidence": confidence,
                }
            ],
        }
        if kind == "model" or outcome in (
            "escalated",
            "unresolved",
        ):  # a person's decision is already audited
            update["audit_trail"] = [
                seal(
                    make_event(
                        event,
                        action_id=stable_id(step_key(config, name), name),
                        actor=actor,
                        thread_id=thread_id_of(config),
                        action=action,
                        decision=outcome,
                        ts=event_time(config),
                        detail={
                            "level": name,
                            "kind": kind,
                            "reason": reason,
                            "to": to,
                            "confidence": confidence,
                        },
                    ),
                    seal_key_of(config, self.store),
                )
            ]
        if outcome != "escalated":
            update.update(escalation_status=outcome, resolved_by=f"{name}:{by}" if by else name)
        return update
