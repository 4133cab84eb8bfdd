"""What the Slack endpoint shows: the modal asking for a reject reason or the confirmation
phrases, reading its answers back into a decision, and the texts of refusals and outcomes.

Pure functions of the request and the payload: `slack_routes.py` receives, `slack_jobs.py`
decides and calls Slack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..approvals import PendingRequest
from ..notify.slack import phrases_of
from .outcome import STATE_TEXT
from .textsafe import UNSAFE_CHARS

__all__ = [
    "CALLBACK_ID",
    "MAX_REASON_CHARS",
    "Kind",
    "Origin",
    "answer_of",
    "decided_text",
    "esc",
    "modal",
    "origin_of_metadata",
]

CALLBACK_ID = "hitl_decision"
"""The modal's `callback_id`: a `view_submission` with another one is not ours."""
MAX_REASON_CHARS = 2000
"""Longest reject reason the modal takes."""

Kind = Literal["approve", "reject"]
"""What a Slack button asks for."""


@dataclass(frozen=True)
class Origin:
    """Where a click came from: the message to update and where to answer the clicker."""

    request_id: str
    kind: Kind
    channel: str | None = None
    """The message's channel (`container.channel_id`), for `chat.update`."""
    ts: str | None = None
    """The message's timestamp (`container.message_ts`), for `chat.update`."""
    response_url: str | None = None
    """The click's `response_url`: ephemeral answers, and the message's update when `chat.update` cannot."""
    user_id: str = ""
    """The clicking Slack user."""

    def metadata(self) -> str:
        """The modal's `private_metadata` (Slack returns it, signed, with the submission)."""
        return json.dumps(
            {"r": self.request_id, "k": self.kind, "c": self.channel, "t": self.ts, "u": self.response_url},
            separators=(",", ":"),
        )


def origin_of_metadata(text: Any, user_id: str) -> Origin | None:
    """The `Origin` a modal's `private_metadata` carries, or None when it is not one of ours."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("k") not in ("approve", "reject"):
        return None
    fields = [data.get(key) for key in ("r", "c", "t", "u")]
    if not isinstance(fields[0], str) or not all(f is None or isinstance(f, str) for f in fields):
        return None
    return Origin(fields[0], data["k"], fields[1], fields[2], fields[3], user_id)


def esc(text: object) -> str:
    """Text safe inside Slack mrkdwn: `&`, `<`, `>` escaped, control and bidi characters shown as escapes."""
    plain = UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    text = UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _input(block_id: str, label: str, *, multiline: bool, max_length: int) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, 2000),
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": multiline,
            "max_length": max_length,
        },
    }


def modal(req: PendingRequest, origin: Origin) -> dict[str, Any]:
    """The modal for `views.open`: a reject reason, or each action's confirmation phrase."""
    names = ", ".join(a["name"] for a in req.payload["action_requests"])
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{'Reject' if origin.kind == 'reject' else 'Approve'}* `{esc(names)}` "
                f"(request `{esc(req.request_id)}`, {esc(req.risk)} risk).",
            },
        }
    ]
    if origin.kind == "reject":
        blocks.append(_input("reason", "Why reject it?", multiline=True, max_length=MAX_REASON_CHARS))
    else:
        for index, phrase in enumerate(phrases_of(req.payload)):
            if phrase is None:
                continue
            action = req.payload["action_requests"][index]["name"]
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"`{esc(action)}` needs: `{esc(phrase)}`"},
                }
            )
            blocks.append(
                _input(f"phrase-{index}", f"Type {phrase} to confirm", multiline=False, max_length=3000)
            )
    verb = "Reject" if origin.kind == "reject" else "Approve"
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": origin.metadata(),
        "title": _plain(f"{verb} request", 24),
        "submit": _plain(verb, 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


def _typed(values: Any, block_id: str) -> str | None:
    """The text typed into an input block of a submitted view (`view.state.values`)."""
    block = values.get(block_id) if isinstance(values, dict) else None
    entry = block.get("value") if isinstance(block, dict) else None
    value = entry.get("value") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def answer_of(req: PendingRequest, kind: Kind, values: Any) -> tuple[Any, dict[str, str]]:
    """The decision a submitted modal (or a plain Approve click, `values` None) makes, and any
    field errors (`{block_id: message}`) to show in the modal instead of deciding."""
    count = len(req.payload["action_requests"])
    if kind == "reject":
        reason = (_typed(values, "reason") or "").strip()
        if not reason:
            return None, {"reason": "Say why you reject it: the agent and the audit log get the reason."}
        if len(reason) > MAX_REASON_CHARS:
            return None, {"reason": f"Keep the reason under {MAX_REASON_CHARS} characters."}
        decisions: list[dict[str, Any]] = [{"type": "reject", "message": reason} for _ in range(count)]
    else:
        decisions = []
        for index, phrase in enumerate(phrases_of(req.payload)):
            decision: dict[str, Any] = {"type": "approve"}
            if phrase is not None:
                decision["verify"] = _typed(values, f"phrase-{index}") or ""
            decisions.append(decision)
    return (decisions[0] if count == 1 else {"decisions": decisions}), {}


def decided_text(req: PendingRequest, summary: str) -> str:
    """What the updated message says about a request that is no longer pending."""
    state = STATE_TEXT.get(req.status, req.status)
    who = f" by {req.decided_by}" if req.decided_by else ""
    kind = (req.decision or {}).get("type")
    how = f" ({kind})" if isinstance(kind, str) else ""
    return f"{state}{how}{who}. {summary}".strip()
