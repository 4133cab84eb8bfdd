"""One-time approval links: `GET /links/{token}` asks for confirmation, `POST` decides.

Opening a link changes nothing (mail scanners prefetch links); the confirmation form posts
back with a CSRF token. A link is its approver's alone: by default (`links_need_sign_in`) it
is opened and redeemed only by that person, signed in to the inbox, so a link read by
someone else (a shared channel, a forwarded mail) shows nothing and decides nothing. The
decision is taken as the link's approver, who must still be a configured approver. The nonce
is burned only after the decision was checked against the request, so a refused link can be
retried after the cause is fixed, and a used link never works again. Requests that need a
typed confirmation phrase (on any of their calls) cannot be approved by link: the page sends
the reviewer to the request's detail page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ..approvals import PendingRequest
from ..decisions import validate_decision
from ..errors import AuthorizationError, ConflictError, DecisionError, HITLError, NotPendingError
from ..identity import same_person
from .deps import LoginRequired, WebState, check_csrf, render, signed_in, state_of
from .views import request_view

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    token: str,
    *,
    claim: Any = None,
    req: PendingRequest | None = None,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    web = state_of(request)
    view = request_view(req, web.inbox.clock()) if req is not None else None
    return render(
        request,
        "link.html",
        {"token": token, "claim": claim, "r": view, "error": error, "done": done},
        status_code=status_code,
    )


def _problem(web: WebState, claim: Any, req: PendingRequest) -> tuple[str, int] | None:
    """Why this link cannot decide this request now (message, status), or None."""
    if req.status != "pending":
        return (
            f"Request {req.request_id[:12]} was already decided ({req.status}"
            f"{', by ' + req.decided_by if req.decided_by else ''}); this link has nothing left to do.",
            409,
        )
    if claim.approver not in web.auth.names:
        return f"{claim.approver!r} is no longer an approver of this inbox; the link cannot be used.", 403
    hitl = req.payload["hitl"]
    phrases = [c.get("verify_phrase") for c in hitl.get("calls") or []] + [hitl.get("verify_phrase")]
    if claim.decision == "approve" and any(phrases):
        return (
            "This action needs its confirmation phrase typed before it is approved, which a link cannot do. "
            "Open the request in the inbox and approve it there.",
            409,
        )
    try:
        validate_decision(
            {"decisions": [{"type": claim.decision}] * len(req.payload["action_requests"])},
            req.payload,
            approver=claim.approver,
        )
    except AuthorizationError as exc:
        return str(exc), 403
    except DecisionError as exc:
        return str(exc), 400
    return None


def _not_yours(request: Request, token: str, claim: Any) -> Response | None:
    """Unless links may be used by whoever holds them: the link's approver must be the one signed in.

    Raises:
        LoginRequired: Nobody is signed in (the login page comes back to the link).
    """
    web = state_of(request)
    if not web.links_need_sign_in:
        return None
    who = signed_in(request)
    if who is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if same_person(who, claim.approver):
        return None
    error = (
        f"This link was sent to {claim.approver!r}, and you are signed in as {who!r}: only "
        f"{claim.approver!r} can use it. Decide in the inbox as yourself, or sign out and sign in as them."
    )
    return _page(request, token, error=error, status_code=403)


def _load(request: Request, token: str) -> tuple[Any, PendingRequest | None, Response | None]:
    web = state_of(request)
    if web.link_signer is None:
        return (
            None,
            None,
            render(
                request,
                "message.html",
                {
                    "heading": "Approval links are off",
                    "message": "This inbox does not accept approval links. Sign in and decide in the inbox.",
                },
                status_code=404,
            ),
        )
    from ..notify.links import LinkError

    try:
        claim = web.link_signer.check(token)
    except LinkError as exc:
        return None, None, _page(request, token, error=str(exc), status_code=400)
    refused = _not_yours(request, token, claim)
    if refused is not None:
        return None, None, refused
    try:
        req = web.inbox.get(claim.request_id)
    except NotPendingError:
        return (
            claim,
            None,
            _page(
                request,
                token,
                claim=claim,
                error="The request this link decides is not in the inbox.",
                status_code=404,
            ),
        )
    return claim, req, None


@router.get("/links", response_class=HTMLResponse)
def confirm_query(request: Request, token: str = "") -> Response:
    """`LinkSigner.make_url` puts the token in the query string; same page as `/links/{token}`."""
    if not token:
        return render(
            request,
            "message.html",
            {
                "heading": "No approval link",
                "message": "This address needs the token from your approval link.",
            },
            status_code=404,
        )
    return confirm(request, token)


@router.get("/links/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> Response:
    """Show what the link will do and ask for confirmation; changes nothing."""
    claim, req, failed = _load(request, token)
    if failed is not None:
        return failed
    assert req is not None
    problem = _problem(state_of(request), claim, req)
    if problem is not None:
        return _page(request, token, claim=claim, req=req, error=problem[0], status_code=problem[1])
    return _page(request, token, claim=claim, req=req)


@router.post("/links/{token}", response_class=HTMLResponse)
def redeem(request: Request, token: str, csrf: Annotated[str, Form()] = "") -> Response:
    """Burn the link's nonce and decide as the link's approver."""
    check_csrf(request, csrf)
    claim, req, failed = _load(request, token)
    if failed is not None:
        return failed
    assert req is not None
    web = state_of(request)
    problem = _problem(web, claim, req)
    if problem is not None:
        return _page(request, token, claim=claim, req=req, error=problem[0], status_code=problem[1])
    from ..notify.links import LinkError

    try:
        claim = web.link_signer.redeem(token, store=web.nonce_store, request_id=req.request_id)
    except LinkError as exc:
        return _page(request, token, claim=claim, req=req, error=str(exc), status_code=409)
    decision = {"type": claim.decision}
    count = len(req.payload["action_requests"])
    try:
        result = web.inbox.decide(
            req.request_id,
            decision if count == 1 else {"decisions": [decision] * count},
            approver=claim.approver,
        )
    except (ConflictError, NotPendingError) as exc:
        return _page(
            request, token, claim=claim, req=web.inbox.get(req.request_id), error=str(exc), status_code=409
        )
    except AuthorizationError as exc:
        return _page(request, token, claim=claim, req=req, error=str(exc), status_code=403)
    except HITLError as exc:
        return _page(request, token, claim=claim, req=req, error=str(exc), status_code=400)
    verb = "approved" if claim.decision == "approve" else "rejected"
    finished = "finished" if result.status == "done" else "is waiting for its next review"
    decided = web.inbox.get(req.request_id)
    summary = web.inbox.outcome(decided)["summary"]
    return _page(
        request,
        token,
        claim=claim,
        req=decided,
        done=f"{claim.approver} {verb} {req.action['name']}. Thread {result.thread_id} {finished}. {summary}",
    )
