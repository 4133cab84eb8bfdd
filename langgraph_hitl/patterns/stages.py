"""`Stage`: one step of an approval pipeline, and the state a pipeline keeps.

See `create_approval_pipeline` (module `pipeline`) for how stages are wired.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Annotated, Any, Literal

from langgraph.graph import END, START
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from ..errors import PolicyError
from ..nodes import HITLState

__all__ = ["PipelineState", "Stage", "StageResult"]

STAGE_DECISIONS = ("approve", "edit", "reject", "revise")
_RESERVED = ("finish", "audit", START, END)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class StageResult(TypedDict, total=False):
    """What one stage produced and what happened to it."""

    stage: int
    """The stage's number, from 1."""
    name: str
    """The stage's name."""
    output: Any
    """The output the pipeline continued with (the reviewer's, after an edit)."""
    status: Literal["done", "awaiting_review", "approved", "edited", "rejected"]
    """`done` (no review), `awaiting_review`, `approved`, `edited` or `rejected`."""
    revisions: int
    """How many times a reviewer asked for a revision."""
    approver: str | None
    """Who approved (or rejected) it."""
    message: str | None
    """The reviewer's last message."""


class PipelineState(HITLState, total=False):
    """The state of `create_approval_pipeline`'s graph; subclass it to add your own keys."""

    input: Any
    """The first stage's input (JSON)."""
    output: Any
    """The last stage's output once every stage is done; None if the pipeline stopped."""
    stage_results: Annotated[dict[str, StageResult], _merge]
    """Stage name -> its result."""
    pipeline_status: Literal["running", "completed", "rejected"]
    """`running`, `completed` (every stage done) or `rejected` (stopped at a stage)."""
    stopped_at: dict[str, Any] | None
    """Where the pipeline stopped: `{"stage": 2, "name": "tone_review", "reason": "...", "by": "..."}`."""


@dataclass(frozen=True)
class Stage:
    """One step of an approval pipeline.

    Args:
        name: The stage's node name (letters, digits, `_`); its review node is `review_<name>`.
        run: `run(input)`, `run(input, instructions)` or `run(input, instructions, previous)`:
            returns the stage's output (JSON). On the first run `instructions` and `previous` are
            None; on a re-run `instructions` holds every revision request for this stage so far,
            oldest first, one per line, and `previous` the output the reviewer sent back. Runs in
            its own node, before any interrupt, so it runs once per attempt.
        approvers: Who may approve this stage's output; setting it makes the stage reviewed.
        requires_approval: Review the output even without named approvers (anyone but the
            requester may decide).
        allowed_decisions: What reviewers may do: from approve, edit, reject, revise.
        timeout: Seconds a reviewer has before the runner rejects (fails closed).
        description: Shown to reviewers.
        retry: A LangGraph `RetryPolicy` for `run` (for flaky model calls).

    Raises:
        PolicyError: A bad name, a non-callable `run`, or bad review options.

    Example:
        ```python
        Stage("tone_review", rewrite_tone, approvers=["manager"], timeout=3600)
        ```
    """

    name: str
    run: Callable[..., Any]
    _: KW_ONLY
    approvers: Sequence[str] | None = None
    requires_approval: bool = False
    allowed_decisions: Sequence[str] = STAGE_DECISIONS
    timeout: float | None = None
    description: str = ""
    retry: RetryPolicy | None = None
    _arity: int = field(init=False, repr=False, compare=False, default=1)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name) or self.name in _RESERVED:
            msg = (
                f"Stage name {self.name!r} is not usable: use letters, digits and '_' (starting with a "
                f"letter, at most 64), and not one of {', '.join(_RESERVED)}."
            )
            raise PolicyError(msg)
        if not callable(self.run):
            msg = f"Stage {self.name!r}: run={self.run!r} is not callable; pass a function input -> output."
            raise PolicyError(msg)
        if self.approvers is not None and (isinstance(self.approvers, str) or not self.approvers):
            msg = f"Stage {self.name!r}: approvers={self.approvers!r}; give a non-empty list such as ['manager']."
            raise PolicyError(msg)
        bad = [d for d in self.allowed_decisions if d not in STAGE_DECISIONS]
        if bad or not {"approve", "reject"} <= set(self.allowed_decisions):
            msg = (
                f"Stage {self.name!r}: allowed_decisions={list(self.allowed_decisions)!r}; choose from "
                f"{', '.join(STAGE_DECISIONS)}, including approve and reject."
            )
            raise PolicyError(msg)
        if self.timeout is not None and not self.timeout > 0:
            msg = f"Stage {self.name!r}: timeout={self.timeout!r}; use a positive number of seconds or None."
            raise PolicyError(msg)
        object.__setattr__(self, "_arity", _positional_arity(self.run))

    @property
    def reviewed(self) -> bool:
        """Whether a person reviews this stage's output."""
        return self.requires_approval or self.approvers is not None

    def call(self, value: Any, instructions: str | None, previous: Any = None) -> Any:
        """Run the stage on `value`, passing `instructions` and `previous` when `run` accepts them."""
        if self._arity >= 3:
            return self.run(value, instructions, previous)
        if self._arity == 2:
            return self.run(value, instructions)
        return self.run(value)


def _positional_arity(fn: Callable[..., Any]) -> int:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
