"""The Slack endpoint's work after the acknowledgement: open a modal, decide, update the message.

Slack wants an answer to every click within 3 seconds, and a decision resumes a graph, which
may take longer. So `slack_routes.py` answers first and schedules one of these jobs. A job
decides through `InboxService.decide`, the same path as the inbox's pages, its API and the CLI
(identity, receipts, four-eyes, authorization, one winner), and then replaces the message with
the outcome (`chat.update`, else the click's `response_url`), or tells the clicker, and only
them, why nothing happened (an ephemeral message).
"""

from __future__ import annotations

import logging
from typing import Any

from ..approvals import PendingRequest
from ..decisions import validate_decision
from ..errors import ConflictError, HITLError, NotPendingError
from ..notify.slack import needs_phrase, phrases_of, slack_outcome_message
from .service import InboxService
from .slack import SlackSettings
from .slack_views import Kind, Origin, answer_of, decided_text, esc, modal

__all__ = ["SlackApp", "apply", "clicked", "guarded", "peek", "refusal", "show_decided"]

log = logging.getLogger("langgraph_hitl.web.slack")

_VERB = {"approve": "Approved", "reject": "Rejected"}


class SlackApp:
    """The Slack app the endpoint talks back to: its settings, a Web API client and `response_url` posts.

    Args:
        settings: The app's secret, token, users and API addresses.
    """

    def __init__(self, settings: SlackSettings) -> None:
        if not isinstance(settings, SlackSettings):
            msg = f"slack= takes a langgraph_hitl.web.slack.SlackSettings, got {type(settings).__name__}."
            raise TypeError(msg)
        try:
            from slack_sdk import WebClient
        except ImportError as exc:
            msg = f'Slack buttons need slack_sdk ({exc}): pip install "langgraph-hitl[slack]".'
            raise ImportError(msg) from None

        self.settings = settings
        self.client = WebClient(token=settings.bot_token, base_url=settings.api_base, timeout=10)

    def open_modal(self, trigger_id: str, view: dict[str, Any], origin: Origin) -> None:
        """`views.open` with the click's trigger (valid for 3 s); a failure is told to the clicker."""
        from slack_sdk.errors import SlackClientError

        try:
            self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackClientError as exc:
            log.warning("Slack views.open failed for request %s: %s", origin.request_id, exc)
            self.tell(
                origin, "Slack did not open the form (it allows 3 s after a click); click the button again."
            )

    def update(self, origin: Origin, message: dict[str, Any]) -> None:
        """Replace the clicked message: `chat.update` when its channel and timestamp are known, else
        (or if Slack refuses, e.g. for a message an incoming webhook posted) through `response_url`."""
        from slack_sdk.errors import SlackClientError

        if origin.channel and origin.ts:
            try:
                self.client.chat_update(channel=origin.channel, ts=origin.ts, **message)
                return
            except SlackClientError as exc:
                log.warning("Slack chat.update failed for request %s: %s", origin.request_id, exc)
        self._respond(origin, {"replace_original": True, **message})

    def tell(self, origin: Origin, text: str) -> None:
        """Say `text` to the clicker alone (ephemeral): through `response_url`, else `chat.postEphemeral`."""
        if self._respond(origin, {"response_type": "ephemeral", "replace_original": False, "text": text}):
            return
        if origin.channel and origin.user_id:
            from slack_sdk.errors import SlackClientError

            try:
                self.client.chat_postEphemeral(channel=origin.channel, user=origin.user_id, text=text)
            except SlackClientError as exc:
                log.warning("Slack chat.postEphemeral failed for request %s: %s", origin.request_id, exc)

    def _respond(self, origin: Origin, body: dict[str, Any]) -> bool:
        """POST `body` to the click's `response_url` if it is Slack's (`response_url_base`); True if accepted."""
        url = origin.response_url
        if not url:
            return False
        if not url.startswith(self.settings.response_url_base):
            log.warning(
                "Ignored a response_url outside %s for request %s.",
                self.settings.response_url_base,
                origin.request_id,
            )
            return False
        from slack_sdk.webhook import WebhookClient

        try:
            response = WebhookClient(url, timeout=10).send_dict(body)
        except OSError as exc:
            log.warning("Slack response_url failed for request %s: %s", origin.request_id, exc)
            return False
        if response.status_code != 200:
            log.warning(
                "Slack response_url answered %s for request %s.", response.status_code, origin.request_id
            )
        return response.status_code == 200


def refusal(req: PendingRequest, kind: Kind, approver: str) -> str | None:
    """Why `approver` may not `kind` `req` at all (not an approver, four-eyes, the requester, type not
    allowed), checked before a modal asks them to type anything; None if they may."""
    answer, _ = answer_of(req, kind, {"reason": {"value": {"value": "-"}}})
    if kind == "approve":  # the phrases are what the modal asks for; assume them typed right here
        phrases = phrases_of(req.payload)
        items = answer["decisions"] if "decisions" in answer else [answer]
        for item, phrase in zip(items, phrases, strict=True):
            if phrase is not None:
                item["verify"] = phrase
    try:
        validate_decision(answer, req.payload, approver=approver)
    except HITLError as exc:
        return str(exc)
    return None


def peek(service: InboxService, request_id: str) -> PendingRequest | None:
    """The request with exactly this id (a button's value is a whole id, never a prefix), or None."""
    try:
        req = service.peek(request_id)
    except (NotPendingError, ValueError):
        return None
    return req if req.request_id == request_id else None


def clicked(service: InboxService, slack: SlackApp, origin: Origin, approver: str, trigger_id: str) -> None:
    """After acknowledging a button: open the modal it needs, or decide a plain approval."""
    req = peek(service, origin.request_id)
    if req is None:
        slack.tell(origin, f"Request `{esc(origin.request_id)}` is not in this inbox; nothing was decided.")
        return
    if req.status != "pending":
        show_decided(service, slack, req, origin)
        return
    problem = refusal(req, origin.kind, approver)
    if problem is not None:
        slack.tell(origin, f"You ({esc(approver)}) cannot decide this request: {esc(problem)}")
        return
    if origin.kind == "reject" or needs_phrase(req.payload):
        slack.open_modal(trigger_id, modal(req, origin), origin)
        return
    answer, _ = answer_of(req, "approve", None)
    apply(service, slack, origin, approver, answer)


def apply(service: InboxService, slack: SlackApp, origin: Origin, approver: str, answer: Any) -> None:
    """Decide through the inbox's one decide path, then update the message or tell the clicker why not."""
    try:
        result = service.decide(origin.request_id, answer, approver=approver)
    except (ConflictError, NotPendingError):
        req = peek(service, origin.request_id)
        if req is not None:
            show_decided(service, slack, req, origin)
        return
    except HITLError as exc:
        slack.tell(origin, f"Not decided: {esc(exc)}")
        return
    decided = service.get(origin.request_id)
    summary = service.outcome(decided)["summary"]
    waiting = "" if result.status == "done" else " The thread now waits for its next review."
    text = f"{_VERB[origin.kind]} by {approver} in Slack. {summary}{waiting}"
    slack.update(origin, slack_outcome_message(decided.payload, text))


def show_decided(service: InboxService, slack: SlackApp, req: PendingRequest, origin: Origin) -> None:
    """Replace the message of a request that is no longer pending with who decided it, and how."""
    summary = service.outcome(req)["summary"]
    slack.update(origin, slack_outcome_message(req.payload, decided_text(req, summary)))


def guarded(job: Any, slack: SlackApp, origin: Origin, *args: Any) -> None:
    """Run a job after the acknowledgement; a failure is logged and told to the clicker, never lost silently."""
    try:
        job(*args)
    except Exception:  # a background job has nobody else to report to
        log.exception("The Slack click on request %s failed.", origin.request_id)
        slack.tell(
            origin,
            "Something failed while applying your click (the server logged it). "
            "Check the request in the web inbox before trying again.",
        )
