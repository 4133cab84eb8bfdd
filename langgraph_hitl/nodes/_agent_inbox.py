"""What a question looks like to Agent Inbox, added to the payload when the graph runs on LangGraph Server.

Agent Inbox (langchain-ai/agent-inbox) reads a langchain `HITLRequest` through
`src/components/agent-inbox/contexts/utils.ts` `normalizeInterrupt`: only `action_requests[0]`,
its `name` (the title), its `arguments` (the Accept/Edit card's fields; langchain's key is
`args`) and its `description` (rendered as Markdown; the inbox list shows its first 65
characters). It never reads `hitl`. So on LangGraph Server, the only place Agent Inbox reads
from, every question also carries:

- `arguments` beside `args` on each action request; on the first one, the fields that
  `decisions.agent_inbox_fields` builds (every call of a multi-call request, the
  confirm field for a phrase), which `decisions.agent_inbox_answer` reads back;
- a description that starts with the risk and folds in why it is gated, the impact, who may
  decide, the phrase, why the last answer was refused and, for several calls, each call with
  its arguments and risk and how to decide each one.

Elsewhere (the runner, plain LangGraph) the payload is left as it was: the CLI and the web
inbox read `hitl` and show all of it themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from langchain_core.runnables import RunnableConfig

from ..decisions import agent_inbox_fields, allowed_decisions, call_field, confirm_field
from ..types import ReviewRequest

__all__ = ["agent_inbox_view", "on_langgraph_server"]

_REVERSIBILITY = {
    "fully_reversible": "fully reversible",
    "partially_reversible": "partially reversible",
    "irreversible_low": "irreversible, low impact",
    "irreversible_high": "irreversible, high impact",
}
_ARGS_CHARS = 300


def on_langgraph_server(config: RunnableConfig | None) -> bool:
    """Whether the run is LangGraph Server's: it puts `langgraph_api_version` in every run's metadata.

    Pinned by `tests/test_agent_inbox.py`, which reads the payload under `langgraph dev`.
    """
    return bool(((config or {}).get("metadata") or {}).get("langgraph_api_version"))


def agent_inbox_view(request: ReviewRequest) -> ReviewRequest:
    """`request` with what Agent Inbox reads added: `arguments` and a description that says it all.

    Langchain's keys and `hitl` are unchanged, so every other client reads the request as before.
    """
    actions: list[dict[str, Any]] = [dict(a) for a in request["action_requests"]]
    for action in actions[1:]:
        action["arguments"] = dict(action["args"])
    actions[0]["arguments"] = agent_inbox_fields(request)
    actions[0]["description"] = _description(request)
    return cast(ReviewRequest, {**request, "action_requests": actions})


def _description(request: ReviewRequest) -> str:
    hitl = cast(Mapping[str, Any], request["hitl"])
    actions = request["action_requests"]
    context = hitl.get("context") if isinstance(hitl.get("context"), dict) else {}
    refused = hitl.get("refused") or (context or {}).get("refused")
    if len(actions) == 1:
        own = actions[0].get("description") or actions[0]["name"]
        lines = [f"{str(hitl['risk']).upper()} risk · {own}"]
    else:
        names = ", ".join(a["name"] for a in actions)
        lines = [f"{str(hitl['risk']).upper()} risk · {len(actions)} calls to decide: {names}"]
    if refused:
        reason = str(refused).removeprefix("Refused: ")
        lines += ["", f"**Your last answer was refused:** {reason}"]
    lines.append("")
    lines += _one_call(request) if len(actions) == 1 else _calls(request)
    lines.append(f"- **Why:** {'; '.join(hitl.get('reasons') or []) or '-'}")
    if hitl.get("impact"):
        lines.append(f"- **Impact:** {hitl['impact']}")
    lines += _who(hitl)
    timeout = hitl.get("timeout_s")
    if timeout:
        lines.append(
            f"- **Deadline:** {_duration(float(timeout))} after it was asked, then {hitl['on_timeout']}"
        )
    lines.append(f"- **Request:** `{hitl['request_id']}` · node `{hitl['node']}` · stage {hitl['stage']}")
    return "\n".join(lines)


def _one_call(request: ReviewRequest) -> list[str]:
    hitl = cast(Mapping[str, Any], request["hitl"])
    lines = [
        f"- **Risk:** {hitl['risk']} · {_REVERSIBILITY.get(hitl['reversibility'], hitl['reversibility'])}"
        f" · {hitl['mode']} gate",
    ]
    phrase = hitl.get("verify_phrase")
    if phrase:
        field = confirm_field(request, 0)
        where = (
            f"into the **{_label(field)}** field, then press Submit"
            if field
            else "(Agent Inbox cannot send it here)"
        )
        lines.append(f"- **To approve:** type `{phrase}` {where}")
    allowed = allowed_decisions(request, 0)
    if "respond" not in allowed:
        lines.append("- **Respond** rejects the action with your text")
    return lines


def _calls(request: ReviewRequest) -> list[str]:
    calls = cast(list[Mapping[str, Any]], request["hitl"].get("calls") or [])
    lines = []
    for i, action in enumerate(request["action_requests"]):
        rules: Mapping[str, Any] = calls[i] if i < len(calls) else request["hitl"]
        args = json.dumps(action["args"], ensure_ascii=False, sort_keys=True, default=str)
        if len(args) > _ARGS_CHARS:
            args = args[: _ARGS_CHARS - 1] + "…"
        line = f"{i + 1}. **{action['name']}** ({rules.get('risk')} risk, {rules.get('mode')} gate): `{args}`"
        if rules.get("approvers"):
            line += f"; approvers: {', '.join(rules['approvers'])}"
        phrase = rules.get("verify_phrase")
        if phrase:
            field = confirm_field(request, i)
            line += f"; to approve, type `{phrase}`" + (f" into **{_label(field)}**" if field else "")
        lines.append(line)
    fields = ", ".join(
        f"**{_label(call_field(i, a['name']))}**" for i, a in enumerate(request["action_requests"])
    )
    lines += [
        "",
        f"- **To decide:** Accept approves every call as asked. To change a call, edit the JSON in its field "
        f"({fields}); to reject one call and approve the others, write `reject` in its field; then press "
        "Submit. Respond (or Ignore) declines every call with your text.",
    ]
    return lines


def _who(hitl: Mapping[str, Any]) -> list[str]:
    approvers = hitl.get("approvers")
    excluded = [n for n in hitl.get("exclude_approvers") or [] if n != hitl.get("requested_by")]
    who = ", ".join(approvers) if approvers else "anyone"
    line = f"- **May decide:** {who}, except {hitl.get('requested_by')} (who asked for it)"
    if excluded:
        line += f" and {', '.join(excluded)} (approved it already: a second person must)"
    return [line]


def _label(field: str) -> str:
    """A field's name as Agent Inbox prints it (lodash `startCase` of the key)."""
    return " ".join(part[:1].upper() + part[1:] for part in field.replace("_", " ").split())


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
