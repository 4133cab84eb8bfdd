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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._canonical import canonical_json, check_json
from .errors import AuthorizationError, DecisionError
from .identity import canonical, canonical_list, looks_like, same_person
from .types import (
    DECISION_TYPES,
    LANGCHAIN_DECISION_TYPES,
    SYSTEM_TIMEOUT,
    CallRules,
    Decision,
    EditedAction,
    LangchainDecisionType,
    ReviewRequest,
)

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

MAX_TEXT = 10_000
"""Longest message or confirmation phrase accepted, in characters."""
MAX_ARGS_BYTES = 256_000
"""Largest edited-arguments object accepted, as canonical JSON bytes."""
_FIELDS = ("type", "approver", "message", "edited_action", "verify")
_SYSTEM_TYPES = ("timeout", "escalate")
_INBOX_TYPES = {"accept": "approve", "ignore": "reject", "response": "respond"}
"""Agent Inbox's `HumanResponse` types and the decision each one is (its `edit` is also ours)."""
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
        if value is not None and ("\x00" in value or not _utf8(value)):
            msg = "text with NUL or a lone surrogate cannot be stored; remove the character"
            raise ValueError(msg)
        return value


class DecisionBatchModel(BaseModel):
    """langchain's resume shape: `{"decisions": [...]}`, one decision per action request."""

    model_config = ConfigDict(extra="forbid", strict=True)
    decisions: list[DecisionModel] = Field(min_length=1, max_length=100)


class InboxResponseModel(BaseModel):
    """Agent Inbox's `HumanResponse`, kept as sent: `agent_inbox_answer` maps it with the request it answers.

    Its shape is agent-inbox's `src/components/agent-inbox/types.ts` (`type` accept, edit,
    response or ignore; `args` null, text, or `{"action": name, "args": {...}}`). Only what
    cannot be stored is refused here; an answer the request cannot take is refused by the node,
    which asks again with the reason, so a client's answer never fails the run.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["accept", "edit", "response", "ignore"]
    args: str | dict[str, Any] | None = None
    approver: str | None = Field(default=None, max_length=200)
    verify: str | None = Field(default=None, max_length=MAX_TEXT)

    @field_validator("args")
    @classmethod
    def _storable(cls, args: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        problem = _text_problem(args) if isinstance(args, str) else None
        if isinstance(args, dict):
            problem = args_problem(args, where="args")
        if problem is not None:
            raise ValueError(problem)
        return args


def _text_problem(text: str) -> str | None:
    """Why `text` cannot be kept in a checkpoint as an answer's text, or None."""
    if len(text) > MAX_TEXT or "\x00" in text or not _utf8(text):
        return f"text must be UTF-8 of at most {MAX_TEXT} characters without NUL; shorten it or remove the character"
    return None


_ONE_ANSWER: Any = Annotated[InboxResponseModel | DecisionModel, Field(union_mode="left_to_right")]

RESPONSE_SCHEMA: Any = Annotated[
    InboxResponseModel
    | DecisionModel
    | DecisionBatchModel
    | Annotated[list[_ONE_ANSWER], Field(min_length=1, max_length=1)],
    Field(union_mode="left_to_right"),
]
"""What the review nodes pass to `interrupt(..., response_schema=...)`: one decision, langchain's
batch, or Agent Inbox's response (alone or in its list of one, left as sent for
`agent_inbox_answer`). LangGraph checks a resume against it before saving it."""


def _utf8(text: str) -> bool:
    """Whether `text` can be stored and hashed as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
            f"A decision must be a JSON object, not {type(raw).__name__} {_short(raw)}. Send {ANSWER_SHAPES}."
        )
        raise DecisionError(msg)
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        msg = (
            f"Decision has unknown field(s) {', '.join(map(_short, unknown))}. Allowed: {', '.join(_FIELDS)} "
            f"(and 'args' in Agent Inbox's answers). Send {ANSWER_SHAPES}."
        )
        raise DecisionError(msg)
    kind = raw.get("type")
    if kind not in (*DECISION_TYPES, *_SYSTEM_TYPES):
        msg = f"Decision type {_short(kind)} is unknown. Allowed: {', '.join(DECISION_TYPES)}. Send {ANSWER_SHAPES}."
        raise DecisionError(msg)
    who = raw.get("approver")
    system = kind in _SYSTEM_TYPES
    if approver is not None:
        submitter = canonical(approver, allow_system=system)
        if who is not None and not same_person(who, submitter):
            msg = (
                f"Decision names approver {_short(who)} but was submitted by {submitter!r}; identity comes "
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
        if not isinstance(value, str) or len(value) > MAX_TEXT or not _utf8(value) or "\x00" in value:
            msg = (
                f"Decision field {key!r} must be UTF-8 text of at most {MAX_TEXT} characters without NUL "
                f"(which Postgres cannot store), got {_short(value)}. Remove the character and send it again."
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


def native_decision(raw: Any) -> Any:
    """`raw` in this package's decision shape, when it is langchain's or Agent Inbox's.

    langchain's `"args": null` is dropped; Agent Inbox's `accept` becomes `approve` (it approves
    the action as asked: the `args` it echoes are not read, an `edit` changes the action),
    `edit` with `args: {"action": name, "args": {...}}` becomes `edit` with `edited_action`,
    `response` with `args: "text"` becomes `respond` with that message, and `ignore` becomes
    `reject`. Anything else is returned unchanged, for `normalize_decision` to check.

    Raises:
        DecisionError: A known type with `args` it cannot take; the message says what to send.
    """
    if not isinstance(raw, dict):
        return raw
    kind, args = raw.get("type"), raw.get("args")
    inbox = _INBOX_TYPES.get(kind) if isinstance(kind, str) else None
    if "args" not in raw and inbox is None:
        return raw
    out = {k: v for k, v in raw.items() if k != "args"}
    if inbox is not None:
        out["type"] = inbox
    if kind == "accept":
        if args is not None:
            _inbox_action(args, kind)
    elif kind == "response":
        out["message"] = _inbox_text(args, raw)
    elif kind == "edit" and args is not None:
        if "edited_action" in raw:
            msg = "An edit has both 'edited_action' (langchain) and 'args' (Agent Inbox); send one of them."
            raise DecisionError(msg)
        name, edited = _inbox_action(args, kind)
        out["edited_action"] = {"name": name, "args": edited}
    elif args is not None:
        msg = (
            f"Decision type {_short(kind)} takes no 'args', got {_short(args)}. Send 'args': null or leave it "
            "out; to change the action send {'type': 'edit', 'edited_action': {'name': ..., 'args': {...}}}."
        )
        raise DecisionError(msg)
    return out


def _inbox_action(args: Any, kind: str) -> tuple[Any, Any]:
    """The `(action, args)` of an Agent Inbox `accept` or `edit` answer's `args`."""
    if not isinstance(args, dict) or set(args) != {"action", "args"}:
        msg = (
            f"Agent Inbox's {kind!r} carries args={{'action': name, 'args': {{...}}}}, got {_short(args)}. "
            "Send that shape, or langchain's {'type': 'edit', 'edited_action': {'name': ..., 'args': {...}}}."
        )
        raise DecisionError(msg)
    return args["action"], args["args"]


def _inbox_text(args: Any, raw: Mapping[str, Any]) -> Any:
    """The message of an Agent Inbox `response` answer: its `args` text."""
    if "message" in raw:
        msg = (
            "A 'response' carries its text in 'args' (Agent Inbox) and has no 'message'; send the text once."
        )
        raise DecisionError(msg)
    if not isinstance(args, str):
        msg = f"Agent Inbox's 'response' carries its text as args='...', got {_short(args)}. Send the text."
        raise DecisionError(msg)
    return args


def _check_edited(edited: Any) -> EditedAction:
    if not isinstance(edited, dict):
        msg = f"An edit needs edited_action={{'name': ..., 'args': {{...}}}}, got {_short(edited)}."
        raise DecisionError(msg)
    extra = [k for k in edited if k not in ("name", "args")]
    if extra:
        msg = f"edited_action has unknown field(s) {extra!r}. Allowed: name, args."
        raise DecisionError(msg)
    name, args = edited.get("name"), edited.get("args")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        msg = f"edited_action.name {_short(name)} must be the action's name (1-200 characters)."
        raise DecisionError(msg)
    if not isinstance(args, dict):
        msg = f"edited_action.args must be a JSON object like {{'id': 1}}, got {_short(args)}."
        raise DecisionError(msg)
    problem = args_problem(args)
    if problem is not None:
        raise DecisionError(problem)
    return {"name": name, "args": args}


def args_problem(
    args: dict[str, Any], *, where: str = "edited_action.args", max_bytes: int = MAX_ARGS_BYTES
) -> str | None:
    """Why `args` cannot be stored as plain JSON in every checkpoint store, or None.

    Not plain JSON, text with NUL (Postgres refuses it) or a lone surrogate, an integer past
    64 bits, or more than `max_bytes` of canonical JSON.
    """
    try:
        check_json(args, where=where)
        size = len(canonical_json(args).encode("utf-8"))
    except UnicodeEncodeError:
        return f"{where} holds text that is not valid UTF-8 (a lone surrogate); fix the encoding."
    except (TypeError, ValueError) as exc:
        return str(exc)
    if size > max_bytes:
        return f"{where} is {size} bytes; at most {max_bytes} are accepted. Pass a reference (an id, a URL) instead."
    if _has_nul(args):
        return f"{where} holds text with a NUL character, which Postgres cannot store; remove it."
    wide = _wide_int(args)
    if wide is not None:
        return f"{where} holds the integer {_short(wide)}, outside the 64-bit range; send it as text."
    return None


def _has_nul(value: Any) -> bool:
    """Whether any key or text in `value` holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _wide_int(value: Any) -> int | None:
    """The first integer in `value` that does not fit in 64 bits (checkpoints cannot store it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if not -(2**63) <= value < 2**64 else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _wide_int(item)
        if found is not None:
            return found
    return None


def decider(approver: Any) -> str:
    """The canonical name of a person deciding through an interface (G10).

    Raises:
        DecisionError: No name given.
        AuthorizationError: Not a valid name (see `identity.canonical`), or a `system:` name,
            which only the runner issues decisions as.
    """
    from .identity import is_system

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


def call_rules(
    *,
    digest: str,
    occurrence: str,
    gate: Any,
    approvers: list[str] | None,
    exclude: list[str],
    verify_phrase: str | None,
) -> CallRules:
    """The rules one action of a request is decided under (`hitl.calls[i]`)."""
    return {
        "digest": digest,
        "occurrence": occurrence,
        "mode": str(gate["mode"]),
        "risk": str(gate["risk"]),
        "policy_version": str(gate.get("policy_version") or ""),
        "approvers": list(approvers) if approvers is not None else None,
        "exclude_approvers": list(exclude),
        "verify_phrase": verify_phrase,
    }


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


def langchain_decisions(allowed: Iterable[str]) -> list[LangchainDecisionType]:
    """The types in `allowed` that langchain's `ReviewConfig.allowed_decisions` may list, in order."""
    return [cast(LangchainDecisionType, d) for d in allowed if d in LANGCHAIN_DECISION_TYPES]


def allowed_decisions(request: Mapping[str, Any], index: int = 0) -> list[str]:
    """Every decision type a person may send for action `index` of `request`.

    `review_configs[index].allowed_decisions` holds langchain's types only, so the payload stays
    a strict `HITLRequest`; a one-action request lists all of them, `revise` included, in
    `hitl.allowed_decisions`. Requests asked before that field existed fall back to
    `review_configs`. Show reviewers this list, not `review_configs` alone.
    """
    full = (request.get("hitl") or {}).get("allowed_decisions")
    if isinstance(full, list) and len(request.get("action_requests") or ()) == 1:
        return [str(d) for d in full]
    configs = request.get("review_configs") or []
    return list(configs[index].get("allowed_decisions") or []) if index < len(configs) else []


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
            f"Confirmation phrase {'missing' if typed is None else 'does not match: typed ' + _short(typed)}. "
            f"Type exactly {phrase!r} to approve request {rid}."
        )
        raise DecisionError(msg)
    if kind in ("respond", "revise") and not decision.get("message"):
        msg = f"A {kind!r} decision needs a message for the agent (request {rid})."
        raise DecisionError(msg)


# -- Agent Inbox: its fields for a request, and its answers read against them -------------------------
# The facts relied on are from langchain-ai/agent-inbox (main, f38301b): `contexts/utils.ts`
# `normalizeInterrupt` shows only `action_requests[0]`, its `arguments` as the Edit card's fields and
# its `description`, and offers Edit when `review_configs[0].allowed_decisions` has "edit";
# `inbox-item-input.tsx` sends every edited field back as text; `utils.ts` /
# `use-interrupted-actions.tsx` resume with a list of one `HumanResponse`.

_CONFIRM_KEYS = ("confirm", "confirm_phrase", "hitl_confirm")
_REJECT_WORD = "reject"


def _rules(request: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    """The rules action `index` is decided under: `hitl.calls[index]`, else the request's."""
    hitl = request.get("hitl") or {}
    calls = hitl.get("calls") or []
    return calls[index] if index < len(calls) and isinstance(calls[index], dict) else hitl


def _edit_card(request: Mapping[str, Any]) -> bool:
    """Whether Agent Inbox offers its Edit card: `review_configs[0]` allows `edit`."""
    configs = request.get("review_configs") or []
    return bool(configs) and "edit" in (configs[0].get("allowed_decisions") or [])


def confirm_field(request: Mapping[str, Any], index: int = 0) -> str | None:
    """The Agent Inbox field where the phrase for action `index` is typed, or None (no phrase, no Edit card)."""
    if not _rules(request, index).get("verify_phrase") or not _edit_card(request):
        return None
    actions = request["action_requests"]
    if len(actions) > 1:
        return f"confirm_call_{index + 1}"
    taken = actions[0]["args"]
    return next((k for k in _CONFIRM_KEYS if k not in taken), f"confirm_{len(taken)}")


def call_field(index: int, name: str) -> str:
    """The Agent Inbox field holding call `index`'s arguments in a multi-call request."""
    return f"call_{index + 1}_{name}"


def agent_inbox_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    """What Agent Inbox shows as the Edit card's fields (`action_requests[0].arguments`) for `request`.

    One action: its arguments, plus an empty field for the confirmation phrase when there is one.
    Several (a tool gate's turn): Agent Inbox shows only the first action request, so its fields
    are one per call, `call_<n>_<name>` holding that call's arguments, and `confirm_call_<n>` for
    each call's phrase. `agent_inbox_answer` reads an edit back through the same fields.
    """
    actions = request["action_requests"]
    fields: dict[str, Any] = {}
    if len(actions) == 1:
        fields.update(actions[0]["args"])
    else:
        for i, action in enumerate(actions):
            fields[call_field(i, action["name"])] = action["args"]
    for i in range(len(actions)):
        key = confirm_field(request, i)
        if key is not None:
            fields[key] = ""
    return fields


def agent_inbox_answer(raw: Any, request: Mapping[str, Any]) -> Any:
    """`raw` as this package's answer to `request` when it is Agent Inbox's response; else `raw` unchanged.

    Agent Inbox resumes with a list of one `HumanResponse` (a bare one is read the same way):

    - `accept`: approve every action as asked (the arguments it echoes are not read);
    - `edit`: its fields, as `agent_inbox_fields` built them. One action: an argument that was
      not text comes back as text and is read as JSON again; unchanged arguments approve, changed
      ones edit; the confirm field is the phrase. Several: each `call_<n>_...` field approves (its
      arguments unchanged), edits (other JSON arguments) or, holding the word `reject`, rejects
      that call; `confirm_call_<n>` is that call's phrase;
    - `response`: its text as `respond`, or as `reject` with that message where the action does
      not allow `respond` (Agent Inbox offers its Respond box wherever `reject` is allowed);
    - `ignore`: reject.

    Other keys sent beside `type` and `args` (`approver`, `verify`) are kept on every decision.

    Raises:
        DecisionError: The response does not fit the request; the message says what to send.
    """
    item = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
    if isinstance(item, BaseModel):
        item = item.model_dump(exclude_none=True)
    if not _is_inbox_response(item):
        return raw
    kind, args = item["type"], item.get("args")
    actions = request["action_requests"]
    decisions: list[dict[str, Any]]
    if kind == "accept":
        if args is not None:
            _inbox_action(args, kind)
        decisions = [{"type": "approve"} for _ in actions]
    elif kind == "ignore":
        if args is not None:
            msg = f"Agent Inbox's 'ignore' carries args=null, got {_short(args)}."
            raise DecisionError(msg)
        decisions = [{"type": "reject"} for _ in actions]
    elif kind == "response":
        text = _inbox_text(args, item)
        decisions = [
            {"type": "respond" if "respond" in allowed_decisions(request, i) else "reject", "message": text}
            for i in range(len(actions))
        ]
    else:
        decisions = _inbox_edit(args, request)
    extra = {k: v for k, v in item.items() if k not in ("type", "args")}
    for decision in decisions:
        clash = sorted(set(extra) & set(decision))
        if clash:
            msg = f"Agent Inbox's {kind!r} sets {', '.join(clash)} itself; send {clash[0]!r} once."
            raise DecisionError(msg)
        decision.update(extra)
    return decisions[0] if len(decisions) == 1 else {"decisions": decisions}


def _is_inbox_response(item: Any) -> bool:
    """Whether `item` is Agent Inbox's `HumanResponse` (an `edit` carries `args`, not langchain's `edited_action`)."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        return False
    if item["type"] == "edit":
        return item.get("args") is not None and "edited_action" not in item
    return item["type"] in _INBOX_TYPES


def _inbox_edit(args: Any, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The decisions an Agent Inbox `edit` makes, read through `agent_inbox_fields(request)`."""
    name, sent = _inbox_action(args, "edit")
    if not isinstance(sent, dict):
        msg = (
            f"Agent Inbox's 'edit' carries args={{'action': name, 'args': {{...}}}}, got args={_short(sent)}."
        )
        raise DecisionError(msg)
    sent = dict(sent)
    actions = request["action_requests"]
    phrases = [_phrase_in(sent, confirm_field(request, i)) for i in range(len(actions))]
    if len(actions) == 1:
        asked = actions[0]["args"]
        edited = {k: _as_asked(k, v, asked) for k, v in sent.items()}
        one: dict[str, Any] = (
            {"type": "approve"}
            if name == actions[0]["name"] and edited == asked
            else {"type": "edit", "edited_action": {"name": name, "args": edited}}
        )
        return [{**one, "verify": phrases[0]} if phrases[0] is not None else one]
    decisions = []
    for i, action in enumerate(actions):
        key = call_field(i, action["name"])
        if key not in sent:
            msg = (
                f"Agent Inbox's edit has no field {key!r}; this request has {len(actions)} calls, one field each "
                f"({', '.join(call_field(j, a['name']) for j, a in enumerate(actions))})."
            )
            raise DecisionError(msg)
        value = sent[key]
        decision: dict[str, Any]
        if isinstance(value, str) and value.strip().lower() == _REJECT_WORD:
            decision = {"type": "reject"}
        else:
            new = _json_value(key, value, action["args"]) if isinstance(value, str) else value
            if not isinstance(new, dict):
                msg = (
                    f"Field {key!r} must hold call {i + 1}'s arguments as a JSON object, or the word "
                    f"{_REJECT_WORD!r} to reject it; got {_short(value)}."
                )
                raise DecisionError(msg)
            decision = (
                {"type": "approve"}
                if new == action["args"]
                else {"type": "edit", "edited_action": {"name": action["name"], "args": new}}
            )
        if phrases[i] is not None and decision["type"] != "reject":
            decision["verify"] = phrases[i]
        decisions.append(decision)
    return decisions


def _phrase_in(sent: dict[str, Any], key: str | None) -> str | None:
    """The phrase typed in confirm field `key` (removed from `sent`), or None if it is empty or absent."""
    if key is None:
        return None
    typed = sent.pop(key, None)
    if typed is None or (isinstance(typed, str) and not typed.strip()):
        return None
    if not isinstance(typed, str):
        msg = f"Field {key!r} holds the confirmation phrase as text, got {_short(typed)}."
        raise DecisionError(msg)
    return typed.strip()


def _as_asked(key: str, value: Any, asked: Mapping[str, Any]) -> Any:
    """An edited argument back in the JSON type it was asked with (Agent Inbox sends edited fields as text)."""
    if key not in asked or isinstance(asked[key], str) or not isinstance(value, str):
        return value
    return _json_value(key, value, asked[key])


def _json_value(key: str, text: str, was: Any) -> Any:
    """`text` read as JSON, or a `DecisionError` saying how to write field `key` (which held `was`)."""
    try:
        return json.loads(text)
    except ValueError:
        msg = (
            f"Field {key!r} held {json.dumps(was, ensure_ascii=False, default=str)[:80]}, not text; the edit "
            f"sent {_short(text)}, which is not JSON. Write it as JSON (like the value shown) or leave it unchanged."
        )
        raise DecisionError(msg) from None
