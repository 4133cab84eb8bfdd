"""Validating a decision against the request it answers.

One function, `validate_decision`, is used twice: by `Approvals.decide` before anything is
resumed (it raises, and the request stays pending), and by the review nodes after
`interrupt()` returns (they catch, record the refusal, and ask again, because a node must
never raise after `interrupt()`: LangGraph would replay the bad answer forever).

`DecisionModel` is the pydantic shape passed to `interrupt(..., response_schema=...)`, so a
malformed answer sent straight to the graph is refused before LangGraph saves it.

Answers come in three dialects, read by one mapping (`native_decision`, which `DecisionModel`
and `normalize_decision` both apply), so the runner, `ServerInbox`, the web inbox's API and a
raw resume read them alike:

- this package's and langchain's: `{"type": "approve" | "edit" | "reject" | "respond" | "revise", ...}`,
  alone or as langchain's batch `{"decisions": [...]}`; an `"args": null` is ignored;
- Agent Inbox's `HumanResponse`, alone or in a list of one: `accept` -> approve, `edit` with
  `args: {"action": name, "args": {...}}` -> edit, `response` with `args: "text"` -> respond,
  `ignore` -> reject. Checked against a request, `agent_inbox_answer` reads it the way Agent
  Inbox's fields were built (`agent_inbox_fields`): edited text back to the argument's JSON type,
  the confirmation phrase from its own field, one field per call of a multi-call request, and
  `response` as `reject` where the request does not allow `respond`.

Who decided never comes from the answer: callers pass the authenticated decider.

This module is the one to import from; it re-exports what lives beside it: Agent Inbox's
dialect in `agent_inbox.py`, what a request allows in `request_rules.py`, and what an answer
may hold to be stored in `_storable.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._storable import MAX_ARGS_BYTES, MAX_TEXT, args_problem, short, utf8
from .agent_inbox import (
    InboxResponseModel,
    agent_inbox_answer,
    agent_inbox_fields,
    call_field,
    confirm_field,
    native_decision,
)
from .errors import AuthorizationError, DecisionError
from .identity import canonical, canonical_list, is_system, looks_like, same_person
from .request_rules import allowed_decisions, call_rules, langchain_decisions
from .types import DECISION_TYPES, SYSTEM_TIMEOUT, Decision, EditedAction, ReviewRequest

__all__ = [
    "ANSWER_SHAPES",
    "DecisionBatchModel",
    "DecisionModel",
    "InboxResponseModel",
    "RESPONSE_SCHEMA",
    "agent_inbox_answer",
    "agent_inbox_fields",
    "allowed_decisions",
    "args_problem",
    "call_field",
    "call_rules",
    "confirm_field",
    "decider",
    "langchain_decisions",
    "MAX_ARGS_BYTES",
    "MAX_TEXT",
    "native_decision",
    "normalize_decision",
    "validate_decision",
]

_FIELDS = ("type", "approver", "message", "edited_action", "verify")
_SYSTEM_TYPES = ("timeout", "escalate")
ANSWER_SHAPES = (
    "{'type': 'approve' | 'edit' | 'reject' | 'respond' | 'revise', ...} (langchain's shape; an 'args': null "
    "is ignored), langchain's batch {'decisions': [...]}, or Agent Inbox's {'type': 'accept' | 'edit' | "
    "'response' | 'ignore', 'args': ...}, alone or in a list of one"
)
"""The answers accepted, as error messages name them."""


class _EditedActionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    args: dict[str, Any]

    @field_validator("args")
    @classmethod
    def _storable(cls, args: dict[str, Any]) -> dict[str, Any]:
        # Refused before LangGraph saves the answer: its serializer cannot store these.
        problem = args_problem(args)
        if problem is not None:
            raise ValueError(problem)
        return args


class DecisionModel(BaseModel):
    """The shape of one decision; semantics are checked by `validate_decision`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["approve", "edit", "reject", "respond", "revise", "timeout", "escalate"]
    approver: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=MAX_TEXT)
    edited_action: _EditedActionModel | None = None
    verify: str | None = Field(default=None, max_length=MAX_TEXT)

    @model_validator(mode="before")
    @classmethod
    def _client_shapes(cls, data: Any) -> Any:
        # langchain's `args: null` and Agent Inbox's answers become this shape before fields are checked.
        return native_decision(data)

    @field_validator("message", "verify")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        # Refused before LangGraph saves the answer: a checkpoint store may not hold these.
        if value is not None and ("\x00" in value or not utf8(value)):
            msg = "text with NUL or a lone surrogate cannot be stored; remove the character"
            raise ValueError(msg)
        return value


class DecisionBatchModel(BaseModel):
    """langchain's resume shape: `{"decisions": [...]}`, one decision per action request."""

    model_config = ConfigDict(extra="forbid", strict=True)
    decisions: list[DecisionModel] = Field(min_length=1, max_length=100)


_ONE_ANSWER: Any = Annotated[InboxResponseModel | DecisionModel, Field(union_mode="left_to_right")]

RESPONSE_SCHEMA: Any = Annotated[
    InboxResponseModel
    | DecisionModel
    | DecisionBatchModel
    | Annotated[list[_ONE_ANSWER], Field(min_length=1, max_length=1)],
    Field(union_mode="left_to_right"),
]
"""What a resume may be: one decision, langchain's batch, or Agent Inbox's response (alone or in
its list of one, left as sent for `agent_inbox_answer`). LangGraph checks a resume against it
(as `answer_schema.INTERRUPT_SCHEMA`) before saving it."""


def normalize_decision(raw: Any, *, approver: str | None = None) -> Decision:
    """Check a single decision's shape and return it as a plain dict.

    Args:
        raw: A decision dict (`{"type": "approve", ...}`, langchain's with or without
            `"args": null`, or an Agent Inbox `HumanResponse`) or a `DecisionModel`.
        approver: Who decides, from the caller (authenticated); when the decision names an
            approver too, both must be the same canonical person.

    Returns:
        The decision in this package's shape, its `approver` canonical (`identity.canonical`).

    Raises:
        DecisionError: The shape is wrong; the message names the bad value and the fix.
        AuthorizationError: The approver is not a valid name (control characters, mixed
            scripts, a lookalike, a `system:` name) or differs from the submitter.

    Example:
        ```python
        normalize_decision({"type": "accept", "args": None}, approver="alice")
        # {"type": "approve", "approver": "alice"}
        ```
    """
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    raw = native_decision(raw)
    if not isinstance(raw, dict):
        msg = (
            f"A decision must be a JSON object, not {type(raw).__name__} {short(raw)}. Send {ANSWER_SHAPES}."
        )
        raise DecisionError(msg)
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        msg = (
            f"Decision has unknown field(s) {', '.join(map(short, unknown))}. Allowed: {', '.join(_FIELDS)} "
            f"(and 'args' in Agent Inbox's answers). Send {ANSWER_SHAPES}."
        )
        raise DecisionError(msg)
    kind = raw.get("type")
    if kind not in (*DECISION_TYPES, *_SYSTEM_TYPES):
        msg = f"Decision type {short(kind)} is unknown. Allowed: {', '.join(DECISION_TYPES)}. Send {ANSWER_SHAPES}."
        raise DecisionError(msg)
    who = raw.get("approver")
    system = kind in _SYSTEM_TYPES
    if approver is not None:
        submitter = canonical(approver, allow_system=system)
        if who is not None and not same_person(who, submitter):
            msg = (
                f"Decision names approver {short(who)} but was submitted by {submitter!r}; identity comes "
                "from the submitter, not the answer."
            )
            raise AuthorizationError(msg)
        who = submitter
    elif who is not None:
        who = canonical(who, allow_system=system)
    out: Decision = {"type": kind}
    if who is not None:
        out["approver"] = who
    for key in ("message", "verify"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_TEXT or not utf8(value) or "\x00" in value:
            msg = (
                f"Decision field {key!r} must be UTF-8 text of at most {MAX_TEXT} characters without NUL "
                f"(which Postgres cannot store), got {short(value)}. Remove the character and send it again."
            )
            raise DecisionError(msg)
        out[key] = value
    edited = raw.get("edited_action")
    if kind == "edit":
        out["edited_action"] = _check_edited(edited)
    elif edited is not None:
        msg = f"edited_action is only for type 'edit', not {kind!r}. Drop it, or use type 'edit'."
        raise DecisionError(msg)
    return out


def _check_edited(edited: Any) -> EditedAction:
    if not isinstance(edited, dict):
        msg = f"An edit needs edited_action={{'name': ..., 'args': {{...}}}}, got {short(edited)}."
        raise DecisionError(msg)
    extra = [k for k in edited if k not in ("name", "args")]
    if extra:
        msg = f"edited_action has unknown field(s) {extra!r}. Allowed: name, args."
        raise DecisionError(msg)
    name, args = edited.get("name"), edited.get("args")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        msg = f"edited_action.name {short(name)} must be the action's name (1-200 characters)."
        raise DecisionError(msg)
    if not isinstance(args, dict):
        msg = f"edited_action.args must be a JSON object like {{'id': 1}}, got {short(args)}."
        raise DecisionError(msg)
    problem = args_problem(args)
    if problem is not None:
        raise DecisionError(problem)
    return {"name": name, "args": args}


def decider(approver: Any) -> str:
    """The canonical name of a person deciding through an interface (G10).

    Raises:
        DecisionError: No name given.
        AuthorizationError: Not a valid name (see `identity.canonical`), or a `system:` name,
            which only the runner issues decisions as.
    """
    if not isinstance(approver, str) or not approver.strip():
        msg = f"approver={approver!r}: say who decides, e.g. approver='alice'."
        raise DecisionError(msg)
    who = canonical(approver, allow_system=True)
    if is_system(who):
        msg = (
            f"approver={approver!r} is reserved for the runner (expire_overdue() issues "
            f"{SYSTEM_TIMEOUT} decisions); decide as the person who decides."
        )
        raise AuthorizationError(msg)
    return who


def validate_decision(raw: Any, request: ReviewRequest, *, approver: str | None = None) -> list[Decision]:
    """Validate an answer against the request it answers; return one decision per action request.

    Accepts one decision, langchain's `{"decisions": [...]}` with exactly one decision per
    action request, or Agent Inbox's response, alone or in its list of one (read against the
    request by `agent_inbox_answer`). The decisions carry `approver`, the authenticated decider,
    whether or not the answer names one.

    Raises:
        DecisionError: Malformed, type not allowed, wrong confirmation phrase.
        AuthorizationError: The approver is not listed, is excluded, or requested the action.
    """
    hitl = request["hitl"]
    items = _answer_items(agent_inbox_answer(raw, request))
    expected = len(request["action_requests"])
    if len(items) != expected:
        msg = (
            f"Request {hitl['request_id']} (node {hitl['node']!r}) has {expected} action(s) to decide; "
            f"got {len(items)} decision(s). Send one per action, in order."
        )
        raise DecisionError(msg)
    calls: list[Any] = list(hitl.get("calls") or ()) or [None] * expected
    out: list[Decision] = []
    for index, (item, call) in enumerate(zip(items, calls, strict=False)):
        decision = normalize_decision(item, approver=approver)
        _check_allowed(decision, request, allowed_decisions(request, index), call, index)
        out.append(decision)
    return out


def _answer_items(raw: Any) -> list[Any]:
    """The decisions in an answer: one, langchain's batch, or Agent Inbox's list of one."""
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if isinstance(raw, list):
        if len(raw) != 1:
            msg = (
                f"A list answer is Agent Inbox's list of one response; got {len(raw)} items. For several "
                "actions send langchain's {'decisions': [decision, ...]}, one per action, in order."
            )
            raise DecisionError(msg)
        return list(raw)
    if isinstance(raw, dict) and "decisions" in raw:
        extra = [k for k in raw if k != "decisions"]
        items = raw["decisions"]
        if extra or not isinstance(items, list):
            msg = "A batch answer is {'decisions': [decision, ...]} and nothing else."
            raise DecisionError(msg)
        return items
    return [raw]


def _check_allowed(
    decision: Decision, request: ReviewRequest, allowed: list[str], call: Any, index: int
) -> None:
    """Check one decision against its action's rules (`hitl.calls[index]`, else the request's)."""
    hitl = request["hitl"]
    rid = f"{hitl['request_id'][:12]}… (node {hitl['node']!r})"
    if len(request["action_requests"]) > 1:
        rid += f", action {index + 1} ({request['action_requests'][index]['name']!r})"
    kind = decision["type"]
    who = decision.get("approver")
    if kind in _SYSTEM_TYPES:
        if who != SYSTEM_TIMEOUT:
            msg = f"Decision type {kind!r} is issued only by the runner ({SYSTEM_TIMEOUT}), not {who!r}."
            raise AuthorizationError(msg)
        return
    if kind not in allowed:
        msg = f"Decision type {kind!r} is not allowed for request {rid}. Allowed: {', '.join(allowed)}."
        raise DecisionError(msg)
    if who is None:
        msg = f"Request {rid} needs to know who decides: pass approver='name'."
        raise AuthorizationError(msg)
    rules = call if isinstance(call, dict) else hitl
    requester = canonical(hitl["requested_by"], allow_system=True, field="requested_by")
    if looks_like(who, requester):
        same = "" if who == requester else f" (looks like the requester {requester!r})"
        msg = f"{who!r} requested this action and may not decide it{same} (request {rid}); ask another approver."
        raise AuthorizationError(msg)
    for earlier in canonical_list(rules.get("exclude_approvers"), field="exclude_approvers") or []:
        if looks_like(who, earlier):
            who_text = repr(who) if who == earlier else f"{who!r} looks like {earlier!r}, who"
            msg = (
                f"{who_text} already approved this action at an earlier stage; request {rid} needs a different "
                "approver (four-eyes)."
            )
            raise AuthorizationError(msg)
    # Approving needs the action's own approvers; declining (reject, respond) any of the request's.
    approvers = canonical_list((rules if kind in ("approve", "edit") else hitl).get("approvers"))
    if approvers is not None and who not in approvers:
        msg = f"{who!r} may not decide request {rid}. Approvers: {', '.join(approvers)}."
        raise AuthorizationError(msg)
    phrase = rules.get("verify_phrase")
    if phrase is not None and kind in ("approve", "edit") and decision.get("verify") != phrase:
        typed = decision.get("verify")
        msg = (
            f"Confirmation phrase {'missing' if typed is None else 'does not match: typed ' + short(typed)}. "
            f"Type exactly {phrase!r} to approve request {rid}."
        )
        raise DecisionError(msg)
    if kind in ("respond", "revise") and not decision.get("message"):
        msg = f"A {kind!r} decision needs a message for the agent (request {rid})."
        raise DecisionError(msg)
