"""Turning a submitted decision form into the decision `Approvals.decide` takes.

A request with one action has a form per decision type (fields `type`, `message`, `verify`,
`edited_args`, `edited_name`). A request with several actions (a `ToolGateNode` question) has
one form with a row per call: fields `call-<i>-type`, `call-<i>-verify`, `call-<i>-message`,
`call-<i>-edited_args` (`<i>` counts from 0), or `all=approve` / `all=reject` to give every call
that choice; it becomes langchain's `{"decisions": [...]}`, one per call, in order. The form
never says who decides: that is the signed-in person.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..approvals import PendingRequest
from ..decisions import allowed_decisions
from ..errors import DecisionError

__all__ = ["CallDecisionError", "build_form_decision", "call_of", "form_fields"]

_ACTION = re.compile(r", action (\d+) \(")
_FIELDS = ("type", "message", "verify", "edited_args", "edited_name")


class CallDecisionError(DecisionError):
    """A row of a multi-call form is wrong; `call` is its index (from 0)."""

    def __init__(self, message: str, call: int) -> None:
        super().__init__(message)
        self.call = call


def call_of(error: str, count: int) -> int | None:
    """The index (from 0) of the call a refusal of a multi-call decision names, or None.

    `validate_decision` names the call it refused as `action N ('name')` (counted from 1).
    """
    match = _ACTION.search(error)
    if match is None or count < 2:
        return None
    index = int(match.group(1)) - 1
    return index if 0 <= index < count else None


def form_fields(req: PendingRequest, form: dict[str, str]) -> list[dict[str, str]]:
    """One dict of fields per action: the single form's own, or each row's `call-<i>-*` fields."""
    count = len(req.payload["action_requests"])
    if count == 1:
        return [{k: form.get(k, "") for k in _FIELDS}]
    everyone = form.get("all", "")
    rows = []
    for i in range(count):
        row = {k: form.get(f"call-{i}-{k}", "") for k in _FIELDS}
        if everyone:
            row["type"] = everyone
        rows.append(row)
    return rows


def _edited(req: PendingRequest, index: int, row: dict[str, str]) -> dict[str, Any]:
    where = "" if len(req.payload["action_requests"]) == 1 else f"Call {index + 1}: "
    try:
        args = json.loads(row.get("edited_args", ""))
    except json.JSONDecodeError as exc:
        msg = (
            f"{where}Edited arguments are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        )
        raise CallDecisionError(msg, index) from None
    if not isinstance(args, dict):
        msg = f'{where}Edited arguments must be a JSON object like {{"id": 1}}, not {type(args).__name__}.'
        raise CallDecisionError(msg, index)
    name = row.get("edited_name", "").strip() or req.payload["action_requests"][index]["name"]
    return {"name": name, "args": args}


def _decision(req: PendingRequest, index: int, row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("type", "")
    if not kind:
        asked = req.payload["action_requests"][index]["name"]
        allowed = ", ".join(allowed_decisions(req.payload, index))
        several = len(req.payload["action_requests"]) > 1
        where = f"Call {index + 1} ({asked}) has no decision" if several else "No decision"
        msg = f"{where}: choose one of {allowed}."
        raise CallDecisionError(msg, index)
    decision: dict[str, Any] = {"type": kind}
    if row.get("message", "").strip():
        decision["message"] = row["message"].strip()
    if row.get("verify", ""):
        decision["verify"] = row["verify"]
    if kind == "edit":
        decision["edited_action"] = _edited(req, index, row)
    return decision


def build_form_decision(req: PendingRequest, form: dict[str, str]) -> Any:
    """The decision a submitted form describes (without any approver: that is the session's).

    Raises:
        CallDecisionError: (a `DecisionError`) a row has no choice, or its edited arguments are
            not a JSON object; `call` says which row.
    """
    decisions = [_decision(req, i, row) for i, row in enumerate(form_fields(req, form))]
    return decisions[0] if len(decisions) == 1 else {"decisions": decisions}
