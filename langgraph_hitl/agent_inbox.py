"""Agent Inbox's dialect: its `HumanResponse`, the fields it shows for a request, its answers read back.

Agent Inbox answers with a `HumanResponse`, alone or in a list of one: `accept` -> approve,
`edit` with `args: {"action": name, "args": {...}}` -> edit, `response` with `args: "text"` ->
respond, `ignore` -> reject. Without a request, `native_decision` maps it (and langchain's
`"args": null`) to this package's shape. Checked against a request, `agent_inbox_answer` reads it
the way Agent Inbox's fields were built (`agent_inbox_fields`): edited text back to the
argument's JSON type, the confirmation phrase from its own field, one field per call of a
multi-call request, and `response` as `reject` where the request does not allow `respond`.

`decisions` re-exports the public names and applies both mappings before it validates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._storable import MAX_TEXT, args_problem, short, text_problem
from .errors import DecisionError
from .request_rules import allowed_decisions

__all__ = [
    "InboxResponseModel",
    "agent_inbox_answer",
    "agent_inbox_fields",
    "call_field",
    "confirm_field",
    "native_decision",
]

# The facts relied on are from langchain-ai/agent-inbox (main, f38301b): `contexts/utils.ts`
# `normalizeInterrupt` shows only `action_requests[0]`, its `arguments` as the Edit card's fields and
# its `description`, and offers Edit when `review_configs[0].allowed_decisions` has "edit";
# `inbox-item-input.tsx` sends every edited field back as text; `utils.ts` /
# `use-interrupted-actions.tsx` resume with a list of one `HumanResponse`.

_INBOX_TYPES = {"accept": "approve", "ignore": "reject", "response": "respond"}
"""Agent Inbox's `HumanResponse` types and the decision each one is (its `edit` is also ours)."""
_CONFIRM_KEYS = ("confirm", "confirm_phrase", "hitl_confirm")
_REJECT_WORD = "reject"


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
        problem = text_problem(args) if isinstance(args, str) else None
        if isinstance(args, dict):
            problem = args_problem(args, where="args")
        if problem is not None:
            raise ValueError(problem)
        return args


# -- without a request: the answer in this package's shape --------------------------------------------


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
            f"Decision type {short(kind)} takes no 'args', got {short(args)}. Send 'args': null or leave it "
            "out; to change the action send {'type': 'edit', 'edited_action': {'name': ..., 'args': {...}}}."
        )
        raise DecisionError(msg)
    return out


def _inbox_action(args: Any, kind: str) -> tuple[Any, Any]:
    """The `(action, args)` of an Agent Inbox `accept` or `edit` answer's `args`."""
    if not isinstance(args, dict) or set(args) != {"action", "args"}:
        msg = (
            f"Agent Inbox's {kind!r} carries args={{'action': name, 'args': {{...}}}}, got {short(args)}. "
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
        msg = f"Agent Inbox's 'response' carries its text as args='...', got {short(args)}. Send the text."
        raise DecisionError(msg)
    return args


# -- with a request: its fields, and its answers read against them ------------------------------------


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
            msg = f"Agent Inbox's 'ignore' carries args=null, got {short(args)}."
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
            f"Agent Inbox's 'edit' carries args={{'action': name, 'args': {{...}}}}, got args={short(sent)}."
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
        decision = _call_decision(i, action, key, sent[key])
        if phrases[i] is not None and decision["type"] != "reject":
            decision["verify"] = phrases[i]
        decisions.append(decision)
    return decisions


def _call_decision(index: int, action: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """What field `key` of a multi-call edit decides for call `index`: reject, approve or edit."""
    if isinstance(value, str) and value.strip().lower() == _REJECT_WORD:
        return {"type": "reject"}
    new = _json_value(key, value, action["args"]) if isinstance(value, str) else value
    if not isinstance(new, dict):
        msg = (
            f"Field {key!r} must hold call {index + 1}'s arguments as a JSON object, or the word "
            f"{_REJECT_WORD!r} to reject it; got {short(value)}."
        )
        raise DecisionError(msg)
    if new == action["args"]:
        return {"type": "approve"}
    return {"type": "edit", "edited_action": {"name": action["name"], "args": new}}


def _phrase_in(sent: dict[str, Any], key: str | None) -> str | None:
    """The phrase typed in confirm field `key` (removed from `sent`), or None if it is empty or absent."""
    if key is None:
        return None
    typed = sent.pop(key, None)
    if typed is None or (isinstance(typed, str) and not typed.strip()):
        return None
    if not isinstance(typed, str):
        msg = f"Field {key!r} holds the confirmation phrase as text, got {short(typed)}."
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
            f"sent {short(text)}, which is not JSON. Write it as JSON (like the value shown) or leave it unchanged."
        )
        raise DecisionError(msg) from None
