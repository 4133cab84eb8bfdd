"""`HITLState`: the keys the approval nodes read and write, to mix into your graph's state
(`HITLModel` for a pydantic schema, `HITLDataclass` for a dataclass one)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from ..types import ActionRequest, Assessment, AuditEvent, DecisionRecord, Status

__all__ = ["HITLDataclass", "HITLModel", "HITLState"]


class HITLState(TypedDict, total=False):
    """Mix into your state: `class State(HITLState): task: str`.

    Lists accumulate (reducer `operator.add`), so a thread that proposes several actions
    keeps every decision and audit event; the nodes filter by `action_id`.
    """

    action: ActionRequest
    """The action under review; your planning node writes it, an `edit` replaces it."""
    action_id: str
    """Identifies the current action (from its digest); written by `ClassifyAndGateNode` and the review nodes."""
    action_occurrence: str
    """The step that proposed the current action; part of its digest, so the same call later is a new action."""
    assessment: Assessment
    """The policy's assessment of the current action."""
    decisions: Annotated[list[DecisionRecord], operator.add]
    """Every answered question, including refused (invalid) answers."""
    status: Status
    """Where the current action stands."""
    audit_trail: Annotated[list[AuditEvent], operator.add]
    """Audit events the nodes produced; `AuditNode` writes them to the log."""
    result: Any
    """What the executed action's handler returned (or the recorded result on a re-run)."""
    review_message: str | None
    """The last reviewer's message: a rejection reason, guidance (respond) or revision instructions."""
    requested_by: str
    """Who asked for the action; that person may never approve it."""
    confidence: float
    """The model's self-reported confidence in the action, for confidence bands."""
    hitl_context: dict[str, Any]
    """What reviewers should see about the task: task, step, total_steps, anything else."""


class HITLModel(BaseModel):
    """`HITLState` for a pydantic state schema: `class State(HITLModel): task: str = ""`.

    The same keys, every one optional, with the same reducers, so the nodes work unchanged.
    """

    action: dict[str, Any] | None = None
    action_id: str | None = None
    action_occurrence: str | None = None
    assessment: dict[str, Any] | None = None
    decisions: Annotated[list[dict[str, Any]], operator.add] = Field(default_factory=list)
    status: str | None = None
    audit_trail: Annotated[list[dict[str, Any]], operator.add] = Field(default_factory=list)
    result: Any = None
    review_message: str | None = None
    requested_by: str | None = None
    confidence: float | None = None
    hitl_context: dict[str, Any] | None = None


@dataclass
class HITLDataclass:
    """`HITLState` for a dataclass state schema: `@dataclass class State(HITLDataclass): task: str = ""`.

    Every key has a default, so your own fields need one too (dataclass inheritance).
    """

    action: dict[str, Any] | None = None
    action_id: str | None = None
    action_occurrence: str | None = None
    assessment: dict[str, Any] | None = None
    decisions: Annotated[list[dict[str, Any]], operator.add] = field(default_factory=list)
    status: str | None = None
    audit_trail: Annotated[list[dict[str, Any]], operator.add] = field(default_factory=list)
    result: Any = None
    review_message: str | None = None
    requested_by: str | None = None
    confidence: float | None = None
    hitl_context: dict[str, Any] | None = None
