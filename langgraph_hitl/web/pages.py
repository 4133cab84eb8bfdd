"""The pages people use: sign in, the pending list, a request's detail and its decision forms.

A decision form never says who decides: the approver is the signed-in person (a form field
named `approver` is ignored). `Approvals.decide` enforces the request's rules; its refusal is
shown inline on the detail page with 400 (bad input) or 403 (not yours to decide), and the
request stays pending.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..approvals import PendingRequest, RunResult
from ..errors import AuthorizationError, ConflictError, DecisionError, NotPendingError
from .deps import check_csrf, page_user, render, safe_next, session_of, state_of
from .service import ReadOnlyInboxError
from .views import event_view, request_view

__all__ = ["build_form_decision", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
_RISKS = ("low", "medium", "high", "critical")
User = Annotated[str, Depends(page_user)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Exchange an approver token for a signed session cookie."""
    check_csrf(request, csrf)
    web = state_of(request)
    who = web.auth.identify(token.strip())
    if who is None:
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": "That token is not valid. Check it and try again."},
            status_code=401,
        )
    fingerprint = web.auth.fingerprint(who)
    assert fingerprint is not None
    request.state.session = web.codec.login(who, fingerprint)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    check_csrf(request, csrf)
    request.state.session = state_of(request).codec.new()
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def inbox(
    request: Request,
    user: User,
    risk: str = "",
    mine: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> Response:
    """Pending requests, newest first, filtered by risk and by "mine"."""
    service = state_of(request).inbox
    risk_filter = risk if risk in _RISKS else None
    try:
        page = service.pending(approver=user if mine else None, risk=risk_filter, limit=limit, cursor=cursor)
    except ValueError:
        page = service.pending(approver=user if mine else None, risk=risk_filter, limit=limit, cursor=None)
    now = service.clock()
    rows = []
    for req in page.items:
        view = request_view(req, now)
        view["yours"] = service.refusal(req, user) is None
        rows.append(view)
    return render(
        request,
        "inbox.html",
        {
            "rows": rows,
            "risk": risk_filter or "",
            "mine": mine,
            "risks": _RISKS,
            "next_cursor": page.next_cursor,
            "paged": cursor is not None,
            "nav": "inbox",
            "query": f"risk={risk_filter or ''}{'&mine=true' if mine else ''}&limit={limit}",
        },
    )


def _detail(
    request: Request,
    user: str,
    req: PendingRequest,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = state_of(request).inbox
    view = request_view(req, service.clock())
    history = [event_view(e) for e in service.history(req.thread_id)]
    return render(
        request,
        "request.html",
        {
            "r": view,
            "history": history,
            "error": error,
            "form": form or {},
            "refusal": service.refusal(req, user) if req.status == "pending" else None,
        },
        status_code=status_code,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def detail(request: Request, request_id: str, user: User) -> Response:
    """One request with everything a reviewer needs, and its decision forms."""
    try:
        req = state_of(request).inbox.get(request_id)
    except NotPendingError:
        return render(
            request,
            "message.html",
            {"heading": "No such request", "message": f"There is no request {request_id!r} in the inbox."},
            status_code=404,
        )
    return _detail(request, user, req)


def build_form_decision(req: PendingRequest, form: dict[str, str]) -> Any:
    """The decision a submitted form describes (without any approver: that is the session's).

    Raises:
        DecisionError: The edited arguments are not a JSON object.
    """
    kind = form.get("type", "")
    decision: dict[str, Any] = {"type": kind}
    if form.get("message", "").strip():
        decision["message"] = form["message"].strip()
    if form.get("verify", ""):
        decision["verify"] = form["verify"]
    if kind == "edit":
        try:
            args = json.loads(form.get("edited_args", ""))
        except json.JSONDecodeError as exc:
            msg = f"Edited arguments are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            raise DecisionError(msg) from None
        if not isinstance(args, dict):
            msg = f'Edited arguments must be a JSON object like {{"id": 1}}, not {type(args).__name__}.'
            raise DecisionError(msg)
        name = form.get("edited_name", "").strip() or req.action["name"]
        decision["edited_action"] = {"name": name, "args": args}
    count = len(req.payload["action_requests"])
    return decision if count == 1 else {"decisions": [decision] * count}


def _outcome(req: PendingRequest, kind: str, result: RunResult) -> str:
    verb = {
        "approve": "Approved",
        "edit": "Approved with edits",
        "reject": "Rejected",
        "respond": "Responded to",
        "revise": "Sent back for revision",
    }.get(kind, "Decided")
    head = f"{verb} {req.action['name']} (request {req.request_id[:12]})."
    if result.status == "done":
        status = result.values.get("status")
        return f"{head} Thread {result.thread_id} finished" + (
            f": {status}." if isinstance(status, str) else "."
        )
    waiting = ", ".join(
        f"{p.action['name']} at {p.node} (request {p.request_id[:12]})" for p in result.pending
    )
    return f"{head} Thread {result.thread_id} now waits for {waiting or 'its next step'}."


@router.post("/requests/{request_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request,
    request_id: str,
    user: User,
    type: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    message: Annotated[str, Form(max_length=10_000)] = "",
    verify: Annotated[str, Form(max_length=10_000)] = "",
    edited_args: Annotated[str, Form(max_length=300_000)] = "",
    edited_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Apply an approve / edit / reject / respond / revise form as the signed-in approver."""
    check_csrf(request, csrf)
    service = state_of(request).inbox
    try:
        req = service.get(request_id)
    except NotPendingError:
        return render(
            request,
            "message.html",
            {"heading": "No such request", "message": f"There is no request {request_id!r} in the inbox."},
            status_code=404,
        )
    form = {
        "type": type,
        "message": message,
        "verify": verify,
        "edited_args": edited_args,
        "edited_name": edited_name,
    }
    try:
        result = service.decide(req.request_id, build_form_decision(req, form), approver=user)
    except AuthorizationError as exc:
        return _detail(request, user, req, error=str(exc), form=form, status_code=403)
    except DecisionError as exc:
        return _detail(request, user, req, error=str(exc), form=form, status_code=400)
    except (ConflictError, NotPendingError) as exc:
        return _detail(request, user, service.get(req.request_id), error=str(exc), form=form, status_code=409)
    except ReadOnlyInboxError as exc:
        return _detail(request, user, req, error=str(exc), form=form, status_code=503)
    session = session_of(request)
    session.flash, session.dirty = _outcome(req, type, result), True
    return RedirectResponse("/", status_code=303)
