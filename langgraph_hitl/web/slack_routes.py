"""`POST /slack/interactions`: the Approve and Reject buttons of the review messages, and their modals.

Set this address as the Slack app's interactivity request URL. Each request is checked before
anything else is read: Slack's signature (`slack_sdk.signature.SignatureVerifier` over
`v0:<timestamp>:<body>`), a timestamp within the replay window (5 minutes), and a body never
seen before (its digest is claimed in the store's `hitl_link_nonces` table, so every server on
the database refuses a replay). The clicking user's id must be mapped to an approver
(`SlackSettings.users`); anyone else is told why, privately, and nothing happens.

Slack wants an answer within 3 seconds, so the endpoint answers at once and decides afterwards
(`slack_jobs.py`), through the inbox's one decide path. A modal's submission is checked first
(the reason is there, the phrases match, the person may decide), so mistakes show in the modal
instead of closing it.

Answers: 200 (acknowledged, or a modal's field errors), 400 for a malformed body, 401 for a
missing, stale or wrong signature, 403 for another workspace, 409 for a replay.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..decisions import validate_decision
from ..errors import DecisionError, HITLError
from ..notify.slack import APPROVE_ACTION, LINK_APPROVE_ACTION, LINK_REJECT_ACTION, REJECT_ACTION, phrases_of
from .deps import state_of
from .forms import call_of
from .service import InboxService
from .slack_jobs import SlackApp, apply, clicked, guarded, peek, show_decided
from .slack_views import CALLBACK_ID, Kind, Origin, answer_of, esc, origin_of_metadata

__all__ = ["PATH", "router", "unmapped_text"]

PATH = "/slack/interactions"
"""Where Slack posts interactions (the app's interactivity request URL)."""

router = APIRouter(include_in_schema=False)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_KINDS: dict[str, Kind] = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}


def _refused(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _checked(slack: SlackApp, body: bytes, headers: Any, now: float) -> JSONResponse | str:
    """The request's timestamp if its signature is Slack's and fresh, else the refusal."""
    from slack_sdk.signature import Clock, SignatureVerifier

    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return _refused(
            401, "Missing X-Slack-Request-Timestamp or X-Slack-Signature: only Slack may post here."
        )
    if not _TIMESTAMP.fullmatch(timestamp):
        return _refused(401, f"X-Slack-Request-Timestamp {timestamp[:40]!r} is not Unix seconds.")
    age = now - int(timestamp)
    window = slack.settings.replay_window_s
    if abs(age) > window:
        return _refused(
            401,
            f"The request's timestamp is {abs(age):.0f} s {'old' if age > 0 else 'ahead'}; "
            f"requests outside {window:g} s are refused (replay window). Check the server's clock.",
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return _refused(400, "The body is not UTF-8.")

    class _StoreClock(Clock):
        def now(self) -> float:
            return now

    verifier = SignatureVerifier(slack.settings.signing_secret, clock=_StoreClock())
    if not signature.isascii() or not verifier.is_valid(body, timestamp, signature):
        return _refused(
            401, "X-Slack-Signature does not match the body: not signed with this app's signing secret."
        )
    return str(timestamp)


def _payload(body: bytes) -> dict[str, Any] | None:
    """The interaction payload: the JSON in the form field `payload`, or None if malformed."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=5)
        raw = form.get("payload")
        data = json.loads(raw[0]) if raw is not None and len(raw) == 1 else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python parses
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any, limit: int = 3000) -> str | None:
    """A string field of the payload that can be stored and looked up: bounded, valid UTF-8, no NUL."""
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def unmapped_text(user_id: str) -> str:
    """What a Slack user who is not mapped to an approver is told."""
    # Slack's ids are ASCII: anything else (a Cyrillic letter, an invisible one) is shown as \\uXXXX
    shown = user_id.encode("ascii", "backslashreplace").decode("ascii")
    return (
        f"Your Slack account (`{esc(shown)}`) is not mapped to an approver of this inbox, so your click "
        "decided nothing. Ask the inbox's operator to add it to the Slack users "
        "(SlackSettings(users=...) or the HITL_SLACK_USERS file)."
    )


@router.post(PATH, include_in_schema=False)
async def interactions(request: Request, background: BackgroundTasks) -> Response:
    """Check Slack's signature and freshness, refuse replays, acknowledge, and schedule the work."""
    slack: SlackApp = request.app.state.hitl_slack
    service = state_of(request).inbox
    body = await request.body()
    checked = _checked(slack, body, request.headers, service.clock())
    if isinstance(checked, Response):
        return checked
    nonce = "slack:" + hashlib.sha256(f"v0:{checked}:".encode() + body).hexdigest()
    expires = int(checked) + slack.settings.replay_window_s + 60
    if not await run_in_threadpool(service.approvals.store.nonces.claim_nonce, nonce, expires):
        return _refused(409, "This request was received before; a Slack interaction counts once.")
    payload = _payload(body)
    user = payload.get("user") if payload is not None else None
    user_id = _text(user.get("id"), 64) if isinstance(user, dict) else None
    if payload is None or user_id is None:
        return _refused(
            400, "Expected a form field 'payload' holding Slack's interaction JSON, with user.id."
        )
    team = payload.get("team")
    team_id = team.get("id") if isinstance(team, dict) else None
    if slack.settings.team_id is not None and team_id != slack.settings.team_id:
        return _refused(403, f"Clicks from workspace {str(team_id)[:40]!r} are not accepted here.")
    if payload.get("type") == "block_actions":
        return _on_click(slack, service, payload, user_id, background)
    if payload.get("type") == "view_submission":
        return await _on_submit(slack, service, payload, user_id, background)
    return Response(status_code=200)  # other interactions (a modal closed, a shortcut) are not ours


def _on_click(
    slack: SlackApp, service: InboxService, payload: dict[str, Any], user_id: str, background: BackgroundTasks
) -> Response:
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        return _refused(400, "A block_actions payload needs exactly one action.")
    action = actions[0]
    action_id = action.get("action_id")
    if not isinstance(action_id, str) or action_id in (LINK_APPROVE_ACTION, LINK_REJECT_ACTION):
        return Response(status_code=200)  # a link button opens its page; a malformed one is not ours
    if action_id not in _KINDS:
        return Response(status_code=200)  # other apps' buttons are not ours
    found = payload.get("container")
    container: dict[str, Any] = found if isinstance(found, dict) else {}
    request_id = _text(action.get("value"), 200)
    trigger_id = _text(payload.get("trigger_id"), 200)
    if request_id is None or trigger_id is None:
        return _refused(400, "The button carries no request id, or the payload no trigger_id.")
    origin = Origin(
        request_id=request_id,
        kind=_KINDS[action_id],
        channel=_text(container.get("channel_id"), 64),
        ts=_text(container.get("message_ts"), 64),
        response_url=_text(payload.get("response_url"), 1000),
        user_id=user_id,
    )
    approver = slack.settings.users.get(user_id)
    if approver is None:
        background.add_task(slack.tell, origin, unmapped_text(user_id))
    else:
        background.add_task(guarded, clicked, slack, origin, service, slack, origin, approver, trigger_id)
    return Response(status_code=200)


async def _on_submit(
    slack: SlackApp, service: InboxService, payload: dict[str, Any], user_id: str, background: BackgroundTasks
) -> Response:
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != CALLBACK_ID:
        return Response(status_code=200)
    origin = origin_of_metadata(view.get("private_metadata"), user_id)
    if origin is None or _text(origin.request_id, 200) is None:
        return _refused(400, "The modal's private_metadata is not this inbox's.")
    req = await run_in_threadpool(peek, service, origin.request_id)
    field = "reason" if origin.kind == "reject" else _first_phrase(req)
    approver = slack.settings.users.get(user_id)
    problem: str | None = None
    if approver is None:
        problem = unmapped_text(user_id)
    elif req is None:
        problem = f"Request {origin.request_id} is not in this inbox."
    elif req.status != "pending":
        background.add_task(guarded, show_decided, slack, origin, service, slack, req, origin)
        problem = f"Already decided ({req.status}{', by ' + req.decided_by if req.decided_by else ''})."
    if problem is None and req is not None and approver is not None:
        state = view.get("state")
        answer, errors = _answer(
            req, origin.kind, state.get("values") if isinstance(state, dict) else None, approver
        )
        if errors:
            return JSONResponse({"response_action": "errors", "errors": errors})
        background.add_task(guarded, apply, slack, origin, service, slack, origin, approver, answer)
        return Response(status_code=200)
    if field is None:  # no input to show the problem at: close the modal and say it privately
        background.add_task(slack.tell, origin, esc(problem))
        return Response(status_code=200)
    return JSONResponse({"response_action": "errors", "errors": {field: _clip(problem or "")}})


def _first_phrase(req: Any) -> str | None:
    if req is None:
        return None
    return next((f"phrase-{i}" for i, p in enumerate(phrases_of(req.payload)) if p is not None), None)


def _clip(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _answer(req: Any, kind: Kind, values: Any, approver: str) -> tuple[Any, dict[str, str]]:
    """The modal's decision, checked like the decide path will (fields, phrases, who may decide)."""
    answer, errors = answer_of(req, kind, values)
    if errors:
        return None, errors
    field = "reason" if kind == "reject" else (_first_phrase(req) or "reason")
    try:
        validate_decision(answer, req.payload, approver=approver)
    except DecisionError as exc:
        index = call_of(str(exc), len(req.payload["action_requests"]))
        phrases = phrases_of(req.payload)
        if kind == "approve" and str(exc).startswith("Confirmation phrase"):
            target = index if index is not None else next(i for i, p in enumerate(phrases) if p is not None)
            field = f"phrase-{target}"
        return None, {field: _clip(str(exc))}
    except HITLError as exc:
        return None, {field: _clip(str(exc))}
    return answer, {}
