"""What a `WebhookNotifier` delivery says: the JSON envelope or a Slack message, with approval links.

Bodies are built on the caller's thread, when the event happens, so later mutations of the
request do not leak into what is sent. A `pending` event with approval links becomes one body per
recipient, each carrying that person's links only, so nobody who reads one message can approve
as someone else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._canonical import iso
from ..types import ReviewRequest
from .base import Layout
from .links import LinkSigner
from .slack import slack_decided_message, slack_review_message, slack_timed_out_message

__all__ = ["WebhookBodies"]

logger = logging.getLogger("langgraph_hitl.notify")


class WebhookBodies:
    """Builds the payload of each event for one layout (see `WebhookNotifier` for the options)."""

    def __init__(
        self,
        *,
        layout: Layout,
        clock: Callable[[], float],
        link_signer: LinkSigner | None,
        base_url: str | None,
        link_approvers: Iterable[str],
        slack_channels: Mapping[str, str] | None,
    ) -> None:
        self.layout: Layout = layout
        self._clock = clock
        self._link_signer = link_signer
        self._base_url = base_url
        self._link_approvers = list(link_approvers)
        self._slack_channels = dict(slack_channels or {})

    def decided(self, request_id: str, decision: Mapping[str, Any], thread_id: str | None) -> dict[str, Any]:
        """The `decided` event's body."""
        if self.layout == "slack":
            return slack_decided_message(request_id, decision)
        return self.envelope("decided", thread_id, request_id, decision=dict(decision))

    def timed_out(self, request_id: str, thread_id: str | None, outcome: str) -> dict[str, Any]:
        """The `timed_out` event's body."""
        if self.layout == "slack":
            return slack_timed_out_message(request_id, outcome)
        return self.envelope("timed_out", thread_id, request_id, outcome=outcome)

    def executed(self, request_id: str, thread_id: str | None, action: str, outcome: str) -> dict[str, Any]:
        """The `executed` event's body: the action a request approved was run (`outcome`: `executed`
        or `failed`)."""
        if self.layout == "slack":
            text = f"Request {request_id}: {action} {'ran' if outcome == 'executed' else outcome}"
            mrkdwn = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}]}
        return self.envelope("executed", thread_id, request_id, action=action, outcome=outcome)

    def envelope(
        self, event: str, thread_id: str | None, request_id: str | None, **extra: Any
    ) -> dict[str, Any]:
        """The JSON layout's envelope: `event`, `ts`, a fresh `delivery_id`, `thread_id`, `request`."""
        return {
            "event": event,
            "ts": iso(self._clock()),
            "delivery_id": uuid.uuid4().hex,
            "thread_id": thread_id,
            "request": {"request_id": request_id},
            **extra,
        }

    def links(self, request: ReviewRequest) -> dict[str, dict[str, str]]:
        """Approver -> decision -> one-time link, for those who may decide `request`; {} without a signer."""
        if self._link_signer is None or self._base_url is None:
            return {}
        hitl = request["hitl"]
        excluded = set(hitl.get("exclude_approvers") or [])
        approvers = hitl.get("approvers")
        names = [a for a in (self._link_approvers if approvers is None else approvers) if a not in excluded]
        signer, base, rid = self._link_signer, self._base_url, hitl["request_id"]
        return {a: {d: signer.make_url(base, rid, a, d) for d in ("approve", "reject")} for a in names}

    def pending(self, request: ReviewRequest, thread_id: str | None) -> list[dict[str, Any]]:
        """One body without links, or one per recipient, each with that person's links only."""
        links = self.links(request)
        if not links:
            return [self._pending_body(request, thread_id, None, None)]
        return [self._pending_body(request, thread_id, who, mine) for who, mine in sorted(links.items())]

    def _pending_body(
        self,
        request: ReviewRequest,
        thread_id: str | None,
        recipient: str | None,
        links: dict[str, str] | None,
    ) -> dict[str, Any]:
        if self.layout == "slack":
            if recipient is None or links is None:
                return slack_review_message(request)
            channel = self._slack_channels.get(recipient)
            if channel is None:  # nowhere private to send this person's links: no links for them
                logger.warning("No slack_channels entry for %r: their message goes without links.", recipient)
                return slack_review_message(request)
            message = slack_review_message(request, links={recipient: links}, recipient=recipient)
            return {"channel": channel, **message}
        body = self.envelope("pending", thread_id, None)
        body["request"] = dict(request)
        if recipient is not None and links is not None:
            body["recipient"] = recipient
            body["links"] = {recipient: links}
        return body
