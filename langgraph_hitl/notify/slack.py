"""Slack Block Kit messages for review requests, decisions and timeouts.

The messages work with a Slack incoming webhook (post the dict as JSON) or with
`chat.postMessage`. Buttons carry `action_id` `hitl_approve` / `hitl_reject` and the
request id as `value`, for Slack apps with interactivity; when approval links are
given, each button also opens its one-time link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..types import ReviewRequest

__all__ = ["slack_decided_message", "slack_review_message", "slack_timed_out_message"]

_MAX_ARGS_CHARS = 1200


def _esc(text: object) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
            Without links the buttons only carry the request id for a Slack app. Links for
            more than one person are refused: whoever reads a message could use every link
            in it, so send each approver their own message (`WebhookNotifier` does).
        recipient: Who the message is for (shown in it).

    Raises:
        ValueError: `links` holds more than one person's links.

    Returns:
        A dict with `text` (the notification fallback) and `blocks`: a header, a section
        with the action's name, arguments, risk, reasons and impact, and an actions
        block with Approve and Reject buttons.

    Example:
        >>> request = {"action_requests": [{"name": "send_email", "args": {"to": "a@b.c"}}],
        ...            "review_configs": [], "hitl": {"request_id": "r1", "risk": "high"}}
        >>> [block["type"] for block in slack_review_message(request)["blocks"]]
        ['header', 'section', 'actions']
    """
    hitl: Mapping[str, Any] = request.get("hitl", {})
    request_id = str(hitl.get("request_id", ""))
    actions = list(request.get("action_requests", []))
    names = ", ".join(str(a.get("name", "?")) for a in actions) or "an action"
    risk = hitl.get("risk", "unknown")
    lines: list[str] = []
    for action in actions[:5]:
        args = json.dumps(action.get("args", {}), ensure_ascii=False, sort_keys=True, indent=1, default=str)
        line = f"*Action:* `{_esc(action.get('name', '?'))}`"
        if action.get("description"):
            line += f" — {_esc(action['description'])}"
        lines.append(f"{line}\n*Args:*\n```{_esc(_clip(args, _MAX_ARGS_CHARS))}```")
    if len(actions) > 5:
        lines.append(f"_…and {len(actions) - 5} more actions; open the inbox to see them all._")
    lines.append(
        f"*Risk:* {_esc(risk)} · {_esc(hitl.get('reversibility', '?'))} · gate `{_esc(hitl.get('mode', '?'))}`"
    )
    reasons = hitl.get("reasons") or []
    if reasons:
        lines.append("*Reasons:*\n" + "\n".join(f"• {_esc(r)}" for r in reasons))
    if hitl.get("impact"):
        lines.append(f"*Impact:* {_esc(hitl['impact'])}")
    if hitl.get("timeout_s") is not None:
        lines.append(f"*Deadline:* {hitl['timeout_s']:g} s, then {_esc(hitl.get('on_timeout', 'reject'))}")
    lines.append(f"*Request:* `{_esc(request_id)}` · requested by {_esc(hitl.get('requested_by', '?'))}")

    if links and len(links) > 1:
        msg = (
            f"slack_review_message got approval links for {len(links)} people ({', '.join(sorted(links))}); "
            "a message may carry one person's links only. Send each approver their own message."
        )
        raise ValueError(msg)
    if recipient:
        lines.append(f"*For:* {_esc(recipient)} (these buttons decide as you; do not forward them)")
    if links:
        ((approver, mine),) = links.items()
        elements: list[dict[str, Any]] = [
            _button("Approve", "hitl_approve", request_id, "primary", mine.get("approve")),
            _button("Reject", "hitl_reject", request_id, "danger", mine.get("reject")),
        ]
    else:
        elements = [
            _button("Approve", "hitl_approve", request_id, "primary", None),
            _button("Reject", "hitl_reject", request_id, "danger", None),
        ]
    text = f"Approval needed ({risk} risk): {names}"
    return {
        "text": _clip(text, 3000),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(f"Approval needed: {names}", 150)},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}},
            {"type": "actions", "block_id": _clip(f"hitl:{request_id}", 255), "elements": elements},
        ],
    }


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
