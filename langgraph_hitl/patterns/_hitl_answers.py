"""Asking `HumanInTheLoopMiddleware`'s questions: checked before LangGraph saves the answer.

Every question is an `interrupt()` whose `response_schema` runs the package's whole decision
check (`decisions.validate_decision`, with the decider taken from the run's config) inside
LangGraph's resume, before the answer is saved. LangGraph replays a hook's earlier answers
under the identity of whoever resumes it last, so an answer is saved only if what it decides
does not depend on who sent it:

- with `raise_invalid` (langchain's behaviour), any failure raises: `invoke` gets a
  `pydantic.ValidationError` (a `ValueError`) with langchain's message where langchain has one,
  nothing is saved, and the question stays answerable;
- otherwise an answer that is wrong in itself (a decision type not allowed, a wrong count or
  phrase) is saved, refused, recorded and asked again in the same hook: it is refused whoever
  replays it. Everything else raises as above: an answer from someone who may not decide, and an
  answer that names an `approver` (one naming someone other than its sender could otherwise be
  replayed under that person's identity and count as theirs; one naming its sender would fail
  on replay under anyone else and wedge the thread): an answer saved to be refused names nobody;
- in every mode an edit that writes a call its own gate forbids approving raises
  (`_interrupt_on.edit_problem`): a gate never gets softer through an edit.

An answer that settles part of a question (the first of two approvers) ends the hook: what is
left is asked again by a later step, one question per step, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from langchain.agents.middleware.human_in_the_loop import HITLResponse
from langchain_core.messages import BaseMessage, ToolMessage
from langgraph.types import interrupt
from pydantic import BaseModel, TypeAdapter, ValidatorFunctionWrapHandler, WithJsonSchema, WrapValidator

from ..answer_schema import INTERRUPT_SCHEMA
from ..decisions import validate_decision
from ..errors import AuthorizationError, DecisionError
from ..nodes._common import run_config
from ..types import DecisionRecord, ReviewRequest
from ._interrupt_on import check_langchain_answer, decision_schema, edit_problem
from ._toolcalls import ToolGateRecord, ToolReviewCore

__all__ = ["Asker"]


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with its `$ref`s replaced by their definitions (the decision types do not recurse)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


_RESPONSE = TypeAdapter(HITLResponse).json_schema()
_BATCH_SCHEMA: dict[str, Any] = _inlined(_RESPONSE, _RESPONSE.get("$defs", {}))
"""What clients are shown for a batched question: langchain's `HITLResponse`."""


def _names_approver(answer: Any) -> bool:
    """Whether `answer` (one decision, langchain's batch or a list) names an `approver` anywhere."""
    if isinstance(answer, BaseModel):
        answer = answer.model_dump(exclude_none=True)
    if isinstance(answer, dict) and isinstance(answer.get("decisions"), list):
        return any(_names_approver(d) for d in answer["decisions"])
    if isinstance(answer, list):
        return any(_names_approver(d) for d in answer)
    return isinstance(answer, dict) and answer.get("approver") is not None


class Asker:
    """Asks the open question of a `ToolGateRecord` and applies the answer (see the module docstring)."""

    def __init__(self, core: ToolReviewCore, *, raise_invalid: bool, max_asks: int) -> None:
        self.core = core
        self.raise_invalid = raise_invalid
        self.max_asks = max_asks

    def check(self, answer: Any, request: ReviewRequest) -> Any:
        """Refuse `answer` with `ValueError` unless it may be saved (runs inside `interrupt()`)."""
        try:
            if self.raise_invalid:
                check_langchain_answer(answer, request)
            who, why = self.core.decider(run_config(), answer)
            if who is None:
                msg = f"Refused: {why}."
                raise AuthorizationError(msg)
            try:
                decisions = validate_decision(answer, request, approver=who)
            except DecisionError:
                if self.raise_invalid or _names_approver(answer):
                    raise
                return answer  # wrong whoever sends it and names nobody: saved, refused, asked again
            problem = edit_problem(decisions, self.core.edit_policy)
            if problem is not None:
                raise DecisionError(problem)
        except (AuthorizationError, DecisionError) as exc:
            raise ValueError(str(exc)) from None
        except ValueError:
            raise
        except Exception as exc:  # anything else LangGraph would not treat as an invalid resume
            msg = f"{type(exc).__name__}: {exc}"
            raise ValueError(msg) from None
        return answer

    def schema(self, request: ReviewRequest, per_call: tuple[Sequence[str], str, Any] | None = None) -> Any:
        """The `response_schema` for `request`: a shape, then `check`; the answer comes back as sent.

        The shape is langchain's per-call decision schema (`per_call`: allowed decisions, tool
        name, tool), any value for a batched question under `raise_invalid` (so langchain's own
        messages are the ones raised), else this package's `RESPONSE_SCHEMA` (a malformed answer,
        one a checkpoint store could not hold, is never saved).
        """

        def wrapped(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
            handler(value)
            return self.check(value, request)

        if per_call is not None:
            allowed, name, tool = per_call
            return Annotated[decision_schema(allowed, name, tool), WrapValidator(wrapped)]
        if self.raise_invalid:
            return Annotated[Any, WrapValidator(wrapped), WithJsonSchema(_BATCH_SCHEMA)]
        return Annotated[INTERRUPT_SCHEMA, WrapValidator(wrapped)]

    def ask(
        self,
        record: ToolGateRecord,
        *,
        config: Any,
        context: dict[str, Any],
        value: Any = None,
        schema: tuple[Sequence[str], str, Any] | None = None,
    ) -> tuple[ToolGateRecord, list[BaseMessage], list[DecisionRecord], list[dict[str, Any]]]:
        """Ask `record`'s question (as `value`, if given) and apply the answer; refuse-and-ask per the mode.

        Returns the record, `ToolMessage`s for calls that will not run, decisions and audit events.
        """
        replies: list[BaseMessage] = []
        decisions: list[DecisionRecord] = []
        events: list[dict[str, Any]] = []
        asks = 0
        refused: str | None = None
        while record["status"] == "pending" and asks < self.max_asks:
            request = record["request"]
            assert request is not None
            answer = interrupt(
                request if value is None else value, response_schema=self.schema(request, schema)
            )
            asks += 1
            # From here on nothing may raise because of the answer: apply_answer refuses instead.
            record, msgs, decs, evs = self.core.apply_answer(record, answer, config=config, context=context)
            replies += msgs
            decisions += decs
            events += evs
            refused = next((d["message"] for d in decs if d["effect"] == "refused"), None)
            if refused is None:
                break
        if record["status"] == "pending" and refused is not None:
            record, msgs = self._give_up(record, asks, refused)
            replies += msgs
        return record, replies, decisions, events

    @staticmethod
    def _give_up(record: ToolGateRecord, asks: int, refused: str) -> tuple[ToolGateRecord, list[BaseMessage]]:
        """Reject every pending call after too many refused answers (fail closed)."""
        calls: list[Any] = []
        messages: list[BaseMessage] = []
        for c in record["calls"]:
            if c["state"] == "pending":
                c = {**c, "state": "rejected", "run": None}
                messages.append(
                    ToolMessage(
                        content=f"Not run: no valid answer after {asks} question(s) (last refused: {refused}).",
                        name=c["call"]["name"],
                        tool_call_id=c["call"]["id"] or "",
                        status="error",
                    )
                )
            calls.append(c)
        return {**record, "calls": calls, "status": "decided", "request": None}, messages
