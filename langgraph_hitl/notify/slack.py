"""Slack Block Kit messages for review requests, decisions and timeouts.

The messages work with a Slack incoming webhook (post the dict as JSON) or with
`chat.postMessage`. Without approval links, the buttons are a Slack app's: `action_id`
`hitl_approve` / `hitl_reject` with the request id as `value`, answered by the web inbox's
Slack endpoint (`create_app(slack=...)`, see `web/slack_routes.py`), which asks for a reject
reason or a confirmation phrase in a modal and then replaces the message with
`slack_outcome_message`. With links, each button opens its one-time link instead
(`hitl_link_approve` / `hitl_link_reject`, which the endpoint only acknowledges). Messages
posted before the link buttons had their own ids carry `hitl_approve` / `hitl_reject` too and
are answered like app buttons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..types import ReviewRequest

__all__ = [
    "APPROVE_ACTION",
    "LINK_APPROVE_ACTION",
    "LINK_REJECT_ACTION",
    "REJECT_ACTION",
    "needs_phrase",
    "phrases_of",
    "slack_decided_message",
    "slack_outcome_message",
    "slack_review_message",
    "slack_timed_out_message",
]

APPROVE_ACTION = "hitl_approve"
"""`action_id` of a Slack app's Approve button (the request id is its `value`)."""
REJECT_ACTION = "hitl_reject"
"""`action_id` of a Slack app's Reject button (the request id is its `value`)."""
LINK_APPROVE_ACTION = "hitl_link_approve"
"""`action_id` of an Approve button that opens a one-time approval link (Slack apps only acknowledge it)."""
LINK_REJECT_ACTION = "hitl_link_reject"
"""`action_id` of a Reject button that opens a one-time approval link."""

_MAX_ARGS_CHARS = 1200
_MAX_DESCRIPTION_CHARS = 300
_SECTION_CHARS = 2700
"""Room for the request's section: Slack allows 3000 characters; the rest is for the `For:` line."""


def _esc(text: object) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _esc_clip(text: str, limit: int) -> str:
    """`_esc(text)` in at most `limit` characters (see `_cut`)."""
    return _cut(_esc(text), limit)


def _cut(escaped: str, limit: int) -> str:
    """Escaped mrkdwn in at most `limit` characters, never cutting an escape (`&amp;`) in two."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _button(label: str, action_id: str, request_id: str, style: str, url: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _clip(label, 75)},
        "action_id": action_id,
        "value": request_id,
        "style": style,
    }
    if url:
        button["url"] = url
    return button


def slack_review_message(
    request: ReviewRequest,
    *,
    links: Mapping[str, Mapping[str, str]] | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """Build a Slack message asking for a decision on `request`.

    Args:
        request: The review request (the interrupt value).
        links: One person's approval links, `{approver: {"approve": url, "reject": url}}`.
            Without links the buttons are a Slack app's (`hitl_approve` / `hitl_reject`, the
            request id as `value`), which the web inbox's Slack endpoint answers. Links for
            more than one person are refused: whoever reads a message could use every link
            in it, so send each approver their own message (`WebhookNotifier` does).
        recipient: Who the message is for (shown in it).

    Raises:
        ValueError: `links` holds more than one person's links.

    Returns:
        A dict with `text` (the notification fallback) and `blocks`: a header, a section
        with the action's name, arguments, risk, reasons and impact, and an actions
        block (`block_id` `hitl:<request id>`) with Approve and Reject buttons. Approve reads
        `Approve…` when the request needs a typed confirmation phrase (the app asks for it).

    Example:
        >>> request = {"action_requests": [{"name": "send_email", "args": {"to": "a@b.c"}}],
        ...            "review_configs": [], "hitl": {"request_id": "r1", "risk": "high"}}
        >>> [block["type"] for block in slack_review_message(request)["blocks"]]
        ['header', 'section', 'actions']
        >>> [b["action_id"] for b in slack_review_message(request)["blocks"][2]["elements"]]
        ['hitl_approve', 'hitl_reject']
    """
    hitl: Mapping[str, Any] = request.get("hitl", {})
    request_id = str(hitl.get("request_id", ""))
    if links and len(links) > 1:
        msg = (
            f"slack_review_message got approval links for {len(links)} people ({', '.join(sorted(links))}); "
            "a message may carry one person's links only. Send each approver their own message."
        )
        raise ValueError(msg)
    header, section = _request_blocks(request)
    if recipient:
        section["text"]["text"] = _clip(
            section["text"]["text"]
            + f"\n*For:* {_esc(recipient)} (these buttons decide as you; do not forward them)",
            3000,
        )
    approve_label = "Approve…" if needs_phrase(request) else "Approve"
    if links:
        ((_, mine),) = links.items()
        elements: list[dict[str, Any]] = [
            _button(approve_label, LINK_APPROVE_ACTION, request_id, "primary", mine.get("approve")),
            _button("Reject", LINK_REJECT_ACTION, request_id, "danger", mine.get("reject")),
        ]
    else:
        elements = [
            _button(approve_label, APPROVE_ACTION, request_id, "primary", None),
            _button("Reject…", REJECT_ACTION, request_id, "danger", None),
        ]
    risk = hitl.get("risk", "unknown")
    text = f"Approval needed ({risk} risk): {_names(request)}"
    return {
        "text": _clip(text, 3000),
        "blocks": [
            header,
            section,
            {"type": "actions", "block_id": _clip(f"hitl:{request_id}", 255), "elements": elements},
        ],
    }


def slack_outcome_message(request: ReviewRequest, outcome: str) -> dict[str, Any]:
    """Build the review message again without its buttons, saying what became of the request.

    The Slack endpoint of the web inbox replaces a review message with this one (`chat.update`
    or the click's `response_url`) once a decision was applied, or when the request turns out
    to be decided already.

    Example:
        >>> request = {"action_requests": [{"name": "send_email", "args": {}}],
        ...            "review_configs": [], "hitl": {"request_id": "r1", "risk": "high"}}
        >>> message = slack_outcome_message(request, "Approved by alice.")
        >>> [block["type"] for block in message["blocks"]], message["text"]
        (['header', 'section', 'section'], 'send_email: Approved by alice.')
    """
    header, section = _request_blocks(request)
    header["text"]["text"] = _clip(f"Decided: {_names(request)}", 150)
    result = {"type": "section", "text": {"type": "mrkdwn", "text": _clip(_esc(outcome), 3000)}}
    return {"text": _clip(f"{_names(request)}: {outcome}", 3000), "blocks": [header, section, result]}


def needs_phrase(request: ReviewRequest) -> bool:
    """Whether approving `request` needs a typed confirmation phrase (for any of its actions)."""
    return any(phrases_of(request))


def phrases_of(request: ReviewRequest) -> list[str | None]:
    """Each action's confirmation phrase (None where none is needed), in the request's order.

    A tool-gate request has one rule per call (`hitl.calls`); otherwise the request's own rule
    holds for its action.

    Example:
        >>> phrases_of({"action_requests": [{"name": "d", "args": {}}], "review_configs": [],
        ...             "hitl": {"request_id": "r1", "verify_phrase": "DELETE 7"}})
        ['DELETE 7']
    """
    hitl: Mapping[str, Any] = request.get("hitl", {})
    calls = list(hitl.get("calls") or [])
    out: list[str | None] = []
    for index in range(len(request.get("action_requests", []))):
        rules = calls[index] if index < len(calls) and isinstance(calls[index], dict) else hitl
        phrase = rules.get("verify_phrase")
        out.append(str(phrase) if phrase is not None else None)
    return out


def _names(request: ReviewRequest) -> str:
    return ", ".join(str(a.get("name", "?")) for a in request.get("action_requests", [])) or "an action"


def _request_blocks(request: ReviewRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the section describing the request (actions, risk, reasons, impact, deadline).

    The facts the reviewer relies on (risk, reasons, deadline, request) get their room first; the
    actions share what is left, so long arguments or an agent's long description can never push
    the real risk out of the message and leave text of their own in its place.
    """
    hitl: Mapping[str, Any] = request.get("hitl", {})
    actions = list(request.get("action_requests", []))
    risk = (
        f"*Risk:* {_esc_clip(str(hitl.get('risk', 'unknown')), 40)} · "
        f"{_esc_clip(str(hitl.get('reversibility', '?')), 40)} · gate `{_esc_clip(str(hitl.get('mode', '?')), 40)}`"
    )
    facts: list[str] = []
    reasons = hitl.get("reasons") or []
    if reasons:
        facts.append("*Reasons:*\n" + "\n".join(f"• {_esc(r)}" for r in reasons))
    if hitl.get("impact"):
        facts.append(f"*Impact:* {_esc(hitl['impact'])}")
    if hitl.get("timeout_s") is not None:
        facts.append(f"*Deadline:* {hitl['timeout_s']:g} s, then {_esc(hitl.get('on_timeout', 'reject'))}")
    which = (
        f"*Request:* `{_esc_clip(str(hitl.get('request_id', '')), 100)}` · "
        f"requested by {_esc_clip(str(hitl.get('requested_by', '?')), 100)}"
    )
    middle = _cut("\n".join(facts), 1200 - len(risk) - len(which))
    tail = "\n".join(part for part in (risk, middle, which) if part)
    share = (_SECTION_CHARS - len(tail)) // max(1, min(len(actions), 5)) - 60  # 60: the "more actions" line
    lines: list[str] = []
    for action in actions[:5]:
        args = json.dumps(action.get("args", {}), ensure_ascii=False, sort_keys=True, indent=1, default=str)
        name = " ".join(str(action.get("name", "?")).split())
        line = f"*Action:* `{_esc_clip(name, min(100, share // 3))}`"
        if action.get("description"):  # the agent's words: one short line, so they cannot pose as ours
            room = min(_MAX_DESCRIPTION_CHARS, share // 2 - len(line))
            line += f" — {_esc_clip(' '.join(str(action['description']).split()), max(room, 2))}"
        room = max(20, min(_MAX_ARGS_CHARS, share - len(line) - 20))
        lines.append(f"{line}\n*Args:*\n```{_esc_clip(args, room)}```")
    if len(actions) > 5:
        lines.append(f"_…and {len(actions) - 5} more actions; open the inbox to see them all._")
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(f"Approval needed: {_names(request)}", 150)},
    }
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([*lines, tail])}}
    return header, section


def slack_decided_message(request_id: str, decision: Mapping[str, Any]) -> dict[str, Any]:
    """Build a Slack message saying who decided `request_id`, and how.

    Example:
        >>> slack_decided_message("r1", {"type": "approve", "approver": "alice"})["text"]
        'Request r1: approve by alice'
    """
    text = (
        f"Request {request_id}: {decision.get('type', 'decided')} by {decision.get('approver') or 'unknown'}"
    )
    if decision.get("message"):
        text += f" — {decision['message']}"
    return {
        "text": _clip(text, 3000),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(_esc(text), 3000)}}],
    }


def slack_timed_out_message(request_id: str, outcome: str) -> dict[str, Any]:
    """Build a Slack message saying nobody decided `request_id` in time.

    Example:
        >>> slack_timed_out_message("r1", "reject")["text"]
        'Request r1 timed out; outcome: reject'
    """
    text = f"Request {request_id} timed out; outcome: {outcome}"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _esc(text)}}]}
