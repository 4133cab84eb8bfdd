"""Turn a deciding command's options into the answer `Approvals.decide` takes (no typer, no LangGraph).

One call: one decision, `{"type": "approve", ...}`, as before. Several calls (a tool gate's
question): langchain's `{"decisions": [...]}`, one per call, in the request's order, from

- `--all`: the command's own decision for every call not named below;
- `--call ID=TYPE` (repeatable): that decision for that call (`approve`, `reject`, `edit`, `respond`);
- `--verify ID=PHRASE` and `--args ID=JSON` (repeatable): the phrase or edited arguments of a call;
  a plain `--verify PHRASE` / `--args JSON` is for a request with one call.

Only the shape is checked here (every call decided once, names that exist, JSON objects);
whether the decision is allowed is for `Approvals.decide` alone to say.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._calls import CallView, resolve, split_ref
from ._common import usage_error
from ._render import SHORT

__all__ = ["CALL_TYPES", "Answer", "AnswerOptions", "build_answer"]

CALL_TYPES = ("approve", "reject", "edit", "respond", "revise")
"""What `--call ID=TYPE` accepts (langchain's four, and `revise` where a node allows it)."""


@dataclass(frozen=True)
class AnswerOptions:
    """A deciding command's options, as typed."""

    kind: str
    """The command: approve, reject, edit or respond."""
    all_calls: bool = False
    """`--all`."""
    calls: Sequence[str] = ()
    """`--call ID=TYPE` values."""
    verify: Sequence[str] = ()
    """`--verify` values: `PHRASE` or `ID=PHRASE`."""
    args: Sequence[str] = ()
    """`--args` values: `JSON` or `ID=JSON`."""
    message: str | None = None
    """`-m`: the message of every decision."""
    name: str | None = None
    """`edit --name`: another action name (a request with one call only)."""


@dataclass(frozen=True)
class Answer:
    """What the command sends, and which decision went to which call."""

    value: dict[str, Any]
    """The answer for `Approvals.decide`: one decision, or `{"decisions": [...]}`."""
    decisions: list[tuple[CallView, dict[str, Any]]] = field(default_factory=list)
    """Each call with its decision, in order."""


def _listing(views: Sequence[CallView]) -> str:
    return ", ".join(f"{v.index} {v.call_id + ' ' if v.call_id else ''}{v.name}" for v in views)


def _types(views: Sequence[CallView], opts: AnswerOptions, request: str) -> dict[int, str]:
    """Each call's decision type, from `--call`, `--all` and the command."""
    chosen: dict[int, str] = {}
    for text in opts.calls:
        ref, eq, kind = text.rpartition("=")
        if not eq or not ref:
            msg = f"--call {text!r} is not ID=TYPE."
            raise usage_error(msg, f"Name the call and its decision: --call {views[0].ref}=approve.")
        view = resolve(views, ref)
        if view is None:
            msg = f"--call {text!r}: request {request} has no call {ref!r}. Its calls: {_listing(views)}."
            raise usage_error(msg, "Name a call by its id or its number (1 for the first).")
        if kind not in CALL_TYPES:
            msg = f"--call {text!r}: {kind!r} is not a decision."
            raise usage_error(msg, f"Use one of: {', '.join(CALL_TYPES[:4])} (or revise where allowed).")
        if view.index in chosen:
            msg = f"--call names call {view.label} twice."
            raise usage_error(msg, "Give one --call per call.")
        chosen[view.index] = kind
    missing = [v for v in views if v.index not in chosen]
    if missing and (opts.all_calls or (len(views) == 1 and not opts.calls)):
        chosen.update({v.index: opts.kind for v in missing})
    elif missing and opts.calls:
        msg = f"Request {request} has {len(views)} calls; no decision for {_listing(missing)}."
        hint = f"Add --call {missing[0].ref}=approve|reject|edit|respond, or --all to {opts.kind} the rest."
        raise usage_error(msg, hint)
    elif missing:
        msg = (
            f"Request {request} has {len(views)} calls ({_listing(views)}); `{opts.kind}` alone does not "
            "say which."
        )
        hint = (
            f"Decide every call with --all, or each with --call ID=approve|reject|edit|respond (ID: the "
            f"call's id or number), e.g. --call {views[0].ref}=approve --call {views[1].ref}=reject."
        )
        raise usage_error(msg, hint)
    return chosen


def _per_call(views: Sequence[CallView], values: Sequence[str], option: str, example: str) -> dict[int, str]:
    """`ID=VALUE` values by call; a plain value belongs to a request's only call."""
    out: dict[int, str] = {}
    for text in values:
        split = split_ref(views, text)
        if split is None and len(views) > 1:
            msg = f"{option} {text!r} names no call; request has {len(views)} calls ({_listing(views)})."
            raise usage_error(msg, f"Say which call it is for: {option} {example}.")
        view, value = split if split is not None else (views[0], text)
        if view.index in out:
            msg = f"{option} is given twice for call {view.label}."
            raise usage_error(msg, f"Give one {option} per call.")
        out[view.index] = value
    return out


def _edited(view: CallView, text: str, name: str | None) -> dict[str, Any]:
    where = f"--args for call {view.label}" if view.call_id or view.index > 1 else "--args"
    try:
        args = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where} is not JSON: {exc}."
        raise usage_error(msg, """Quote a JSON object for the shell: --args '{"id": 7}'.""") from None
    if not isinstance(args, dict):
        msg = f"{where} must be a JSON object, got {type(args).__name__}."
        raise usage_error(msg, """Pass the whole argument object: --args '{"id": 7}'.""")
    return {"name": name or view.name, "args": args}


def build_answer(views: Sequence[CallView], opts: AnswerOptions, *, request_id: str) -> Answer:
    """The answer for `views` from the command's options.

    Raises:
        CLIError: A usage error (exit 2) naming the bad option and the fix; nothing is decided.
    """
    short = request_id[:SHORT]
    if not views:
        msg = f"Request {short} holds no action to decide."
        raise usage_error(msg, f"Inspect it with `langgraph-hitl show {short}`.")
    types = _types(views, opts, short)
    example = next((f"{v.ref}={shlex.quote(v.verify_phrase)}" for v in views if v.verify_phrase), "ID=PHRASE")
    phrases = _per_call(views, opts.verify, "--verify", example)
    edits = _per_call(views, opts.args, "--args", f"""{views[0].ref}='{{"id": 7}}'""")
    if opts.name is not None and len(views) > 1:
        msg = f"--name renames the action of a request with one call; request {short} has {len(views)}."
        raise usage_error(msg, "Edit a tool call's arguments with --call ID=edit --args ID=JSON.")
    decisions: list[tuple[CallView, dict[str, Any]]] = []
    for view in views:
        kind = types[view.index]
        decision: dict[str, Any] = {"type": kind}
        if kind == "edit":
            if view.index not in edits:
                msg = f"Call {view.label} is edited but has no --args."
                raise usage_error(msg, f"""Give the new arguments: --args {view.ref}='{{"id": 7}}'.""")
            decision["edited_action"] = _edited(view, edits[view.index], opts.name)
        elif view.index in edits:
            msg = f"--args for call {view.label}, whose decision is {kind}: only an edit takes arguments."
            raise usage_error(msg, f"Edit it: --call {view.ref}=edit, or drop its --args.")
        if opts.message is not None:
            decision["message"] = opts.message
        if view.index in phrases:
            decision["verify"] = phrases[view.index]
        decisions.append((view, decision))
    value = decisions[0][1] if len(views) == 1 else {"decisions": [d for _, d in decisions]}
    return Answer(value=value, decisions=decisions)
