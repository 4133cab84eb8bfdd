"""The levels of an escalation chain: `ModelLevel`, `HumanLevel`, and what they produce.

See `create_escalation_chain` (module `escalation`) for how a chain walks them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Annotated, Any, Literal

from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from ..nodes import HITLState
from .llm import no_default, unit_interval

__all__ = [
    "DEFAULT_LEVEL_PROMPT",
    "EscalationState",
    "EscalationStep",
    "HumanLevel",
    "Level",
    "LevelAnswer",
    "ModelLevel",
]

DEFAULT_LEVEL_PROMPT = (
    "Answer the task. Then rate your confidence that the answer is correct and complete, from 0 to 1, "
    "and set sensitive=true if the task involves legal, medical, safety, payment or personal-data matters. "
    'Reply only with JSON: {"answer": "...", "confidence": 0.0-1.0, "sensitive": false}.'
)
"""The system prompt a chat-model level gets unless its `prompt` says otherwise."""


class LevelAnswer(BaseModel):
    """What a model level returns."""

    model_config = ConfigDict(extra="ignore")
    answer: str
    """The proposed answer."""
    confidence: float
    """Self-reported confidence in [0, 1]: a noisy hint; calibrate `min_confidence` on real cases."""
    sensitive: bool = Field(default=False, json_schema_extra=no_default)
    """Whether the content needs a person regardless of confidence."""

    _confidence = field_validator("confidence")(unit_interval)


@dataclass(frozen=True)
class ModelLevel:
    """A level where a model answers.

    Args:
        name: The level's node name (letters, digits, `_`).
        model: A langchain chat model (asked for `LevelAnswer` with structured output, else for
            JSON), or a callable `fn(task)` / `fn(task, history)` returning a dict or `LevelAnswer`.
        prompt: The system prompt for a chat model (default asks for `LevelAnswer` JSON).
        retry: A LangGraph `RetryPolicy` for transient errors before the level counts as failed.

    Example:
        ```python
        ModelLevel("senior_agent", ChatOpenAI(model="gpt-4o", temperature=0))
        ModelLevel("rules", lambda task: {"answer": lookup(task), "confidence": 0.95})
        ```
    """

    name: str
    model: Any
    _: KW_ONLY
    prompt: str | None = None
    retry: RetryPolicy | None = None


@dataclass(frozen=True)
class HumanLevel:
    """A level where a person decides, through a `ReviewNode` named `review_<name>`.

    Args:
        name: The level's node name (letters, digits, `_`).
        approvers: Who may decide (None: anyone but the requester).
        timeout: Seconds before the runner times the request out, which escalates to the next level.
        allowed_decisions: From approve, edit, reject, respond.

    Example:
        ```python
        HumanLevel("manager", approvers=["support_manager"], timeout=4 * 3600)
        ```
    """

    name: str
    _: KW_ONLY
    approvers: Sequence[str] | None = None
    timeout: float | None = None
    allowed_decisions: Sequence[str] = ("approve", "edit", "reject", "respond")


Level = ModelLevel | HumanLevel


class EscalationStep(TypedDict):
    """One step of the chain."""

    level: str
    """The level that acted."""
    kind: Literal["model", "human"]
    """Whether a model or a person acted."""
    outcome: Literal["resolved", "escalated", "rejected", "unresolved"]
    """What came of it."""
    reason: str
    """Why, e.g. `confidence 0.42 below 0.7`, `error: TimeoutError`, `approved by alice`."""
    to: str | None
    """The next level, when escalated."""
    confidence: float | None
    """The model's confidence, for model levels."""


class EscalationState(HITLState, total=False):
    """The state of `create_escalation_chain`'s graph; subclass it to add your own keys."""

    task: Any
    """What to answer (text or JSON)."""
    answer: Any
    """The current (or final) answer."""
    escalation_status: Literal["running", "resolved", "rejected", "unresolved"]
    """`resolved` (a level answered), `rejected` (a person refused), `unresolved` (no level could)."""
    resolved_by: str | None
    """The level (and person) that resolved or rejected it."""
    escalation_path: Annotated[list[EscalationStep], operator.add]
    """Every step, in order."""
