"""Validating a decision against the request it answers.

One function, `validate_decision`, is used twice: by `Approvals.decide` before anything is
resumed (it raises, and the request stays pending), and by the review nodes after
`interrupt()` returns (they catch, record the refusal, and ask again, because a node must
never raise after `interrupt()`: LangGraph would replay the bad answer forever).

`DecisionModel` is the pydantic shape passed to `interrupt(..., response_schema=...)`, so a
malformed answer sent straight to the graph is refused before LangGraph saves it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._canonical import canonical_json, check_json
from .errors import AuthorizationError, DecisionError
from .identity import canonical, canonical_list, looks_like, same_person
from .types import DECISION_TYPES, SYSTEM_TIMEOUT, CallRules, Decision, EditedAction, ReviewRequest

__all__ = [
    "DecisionBatchModel",
    "DecisionModel",
    "args_problem",
    "call_rules",
    "decider",
    "MAX_ARGS_BYTES",
    "MAX_TEXT",
    "normalize_decision",
    "validate_decision",
]

MAX_TEXT = 10_000
"""Longest message or confirmation phrase accepted, in characters."""
MAX_ARGS_BYTES = 256_000
"""Largest edited-arguments object accepted, as canonical JSON bytes."""
_FIELDS = ("type", "approver", "message", "edited_action", "verify")
_SYSTEM_TYPES = ("timeout", "escalate")


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
        raw: A decision dict (`{"type": "approve", ...}`) or a `DecisionModel`.
        approver: Who decides, from the caller (authenticated); when the decision names an
            approver too, both must be the same canonical person.

    Returns:
        The decision, its `approver` canonical (`identity.canonical`).

    Raises:
        DecisionError: The shape is wrong; the message names the bad value and the fix.
        AuthorizationError: The approver is not a valid name (control characters, mixed
            scripts, a lookalike, a `system:` name) or differs from the submitter.
    """
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if not isinstance(raw, dict):
        msg = f"A decision must be a JSON object like {{'type': 'approve'}}, not {type(raw).__name__} {_short(raw)}."
        raise DecisionError(msg)
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        msg = (
            f"Decision has unknown field(s) {', '.join(map(_short, unknown))}. Allowed: {', '.join(_FIELDS)}."
        )
        raise DecisionError(msg)
    kind = raw.get("type")
    if kind not in (*DECISION_TYPES, *_SYSTEM_TYPES):
        msg = f"Decision type {_short(kind)} is unknown. Allowed: {', '.join(DECISION_TYPES)}."
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

    Accepts one decision, or langchain's `{"decisions": [...]}` with exactly one decision per
    action request.

    Raises:
        DecisionError: Malformed, type not allowed, wrong confirmation phrase.
        AuthorizationError: The approver is not listed, is excluded, or requested the action.
    """
    hitl = request["hitl"]
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if isinstance(raw, dict) and "decisions" in raw:
        extra = [k for k in raw if k != "decisions"]
        items = raw["decisions"]
        if extra or not isinstance(items, list):
            msg = "A batch answer is {'decisions': [decision, ...]} and nothing else."
            raise DecisionError(msg)
    else:
        items = [raw]
    expected = len(request["action_requests"])
    if len(items) != expected:
        msg = (
            f"Request {hitl['request_id']} (node {hitl['node']!r}) has {expected} action(s) to decide; "
            f"got {len(items)} decision(s). Send one per action, in order."
        )
        raise DecisionError(msg)
    calls: list[Any] = list(hitl.get("calls") or ()) or [None] * expected
    out: list[Decision] = []
    for item, config, call in zip(items, request["review_configs"], calls, strict=False):
        decision = normalize_decision(item, approver=approver)
        _check_allowed(decision, request, config["allowed_decisions"], call, len(out))
        out.append(decision)
    return out


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
