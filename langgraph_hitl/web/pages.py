"""The pages people use: sign in, the pending list, a request's detail and its decision forms,
and a thread's page (its requests, pending and decided, and its history).

A decision form never says who decides: the approver is the signed-in person (a form field
named `approver` is ignored). Every decision goes through `Approvals.decide`, which enforces
the request's rules; its refusal is shown inline on the detail page with 400 (bad input) or 403
(not yours to decide), next to the call it names, and the request stays pending with nothing
saved. After a decision the inbox says what happened: decided (with each call's result),
waiting for the next reviewer, or asked again by the graph (with its reason).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..approvals import PendingRequest, RunResult
from ..errors import AuthorizationError, ConflictError, DecisionError, HaltedError, NotPendingError
from ..types import RISKS
from .deps import check_csrf, client_of, page_user, render, safe_next, session_of, state_of
from .forms import CallDecisionError, build_form_decision, call_of
from .outcome import STATE_TEXT, refusal_of
from .service import InboxService, ReadOnlyInboxError
from .views import event_view, request_view, thread_url

__all__ = ["build_form_decision", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
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
    web.throttle.check(client_of(request))
    who = web.auth.identify(token.strip())
    if who is None:
        web.throttle.fail(client_of(request))
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": "That token is not valid. Check it and try again."},
            status_code=401,
        )
    fingerprint = web.auth.fingerprint(who)
    assert fingerprint is not None
    request.state.session = web.sessions.login(who, fingerprint)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session everywhere: its row is deleted, so a copy of the cookie stops working too."""
    check_csrf(request, csrf)
    request.state.session = state_of(request).sessions.logout(session_of(request))
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def inbox(
    request: Request,
    user: User,
    risk: str = "",
    mine: bool = False,
    thread: Annotated[str, Query(max_length=500)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> Response:
    """Pending requests, newest first, filtered by risk, by "mine" and by thread (its exact id)."""
    service = state_of(request).inbox
    risk_filter = risk if risk in RISKS else None
    filters: dict[str, Any] = {
        "approver": user if mine else None,
        "risk": risk_filter,
        "limit": limit,
        "thread_id": thread or None,
    }
    try:
        page = service.pending(**filters, cursor=cursor)
    except ValueError:
        page = service.pending(**filters, cursor=None)
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
            "thread": thread,
            "thread_url": thread_url(thread) if thread else "",
            "risks": RISKS,
            "next_cursor": page.next_cursor,
            "paged": cursor is not None,
            "nav": "inbox",
            "query": urlencode(
                {
                    "risk": risk_filter or "",
                    **({"mine": "true"} if mine else {}),
                    **({"thread": thread} if thread else {}),
                    "limit": limit,
                }
            ),
        },
    )


def _detail(
    request: Request,
    user: str,
    req: PendingRequest,
    *,
    error: str | None = None,
    call: int | None = None,
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
            "outcome": service.outcome(req),
            "history": history,
            "error": error,
            "error_call": call,
            "form": form or {},
            "refusal": service.refusal(req, user) if req.status == "pending" else None,
        },
        status_code=status_code,
    )


def _not_found(request: Request, request_id: str) -> Response:
    return render(
        request,
        "message.html",
        {"heading": "No such request", "message": f"There is no request {request_id!r} in the inbox."},
        status_code=404,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def detail(request: Request, request_id: str, user: User) -> Response:
    """One request with everything a reviewer needs, and its decision forms (or its outcome)."""
    try:
        req = state_of(request).inbox.get(request_id)
    except NotPendingError:
        return _not_found(request, request_id)
    return _detail(request, user, req)


@router.get("/threads/{thread_id:path}", response_class=HTMLResponse)
def thread_page(request: Request, thread_id: str, user: User) -> Response:
    """Every request of one thread, pending and decided, and its audit history.

    The id is the rest of the path (`views.thread_url` escapes it as one segment); the two ids
    a path cannot carry, `.` and `..`, come as `/threads/?id=..`.
    """
    if not thread_id:
        thread_id = request.query_params.get("id", "")
    service = state_of(request).inbox
    requests = service.thread(thread_id) if thread_id else []
    history = service.history(thread_id) if thread_id else []
    if not requests and not history:
        return render(
            request,
            "message.html",
            {
                "heading": "No such thread",
                "message": f"There is no thread {thread_id!r} in the inbox or the audit log. "
                "Thread ids match exactly: case counts, and a prefix is not enough.",
            },
            status_code=404,
        )
    now = service.clock()
    rows = []
    for req in requests:
        view = request_view(req, now)
        view["status_text"] = STATE_TEXT.get(req.status, req.status)
        rows.append(view)
    return render(
        request,
        "thread.html",
        {
            "thread_id": thread_id,
            "rows": rows,
            "waiting": sum(1 for r in requests if r.status == "pending"),
            "history": [event_view(e) for e in history],
        },
    )


async def form_data(request: Request) -> dict[str, str]:
    """The posted form's text fields (the body limit applies while it is read)."""
    form = await request.form(max_files=0, max_fields=2000)
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormData = Annotated[dict[str, str], Depends(form_data)]

_VERBS = {
    "approve": "Approved",
    "edit": "Approved with edits",
    "reject": "Rejected",
    "respond": "Responded to",
    "revise": "Sent back for revision",
}


def _thread_text(result: RunResult) -> str:
    if result.status == "done":
        status = result.values.get("status")
        return f"Thread {result.thread_id} finished" + (f": {status}." if isinstance(status, str) else ".")
    waiting = ", ".join(
        f"{p.action['name']} at {p.node} (request {p.request_id[:12]})" for p in result.pending
    )
    return f"Thread {result.thread_id} now waits for {waiting or 'its next step'}."


def _flash(req: PendingRequest, result: RunResult, report: dict[str, Any]) -> dict[str, str]:
    """What the inbox says after a decision: who decided what, each result, where the thread is."""
    calls = report["calls"]
    if len(calls) == 1:
        call = calls[0]
        head = (
            f"{_VERBS.get(call['decision'], 'Decided')} {req.action['name']} (request {req.request_id[:12]})."
        )
        ran = f" {call['name']} {call['ran_text']}" + (f": {call['result']}." if call["result"] else ".")
        text = f"{head} {_thread_text(result)}" + (ran if call["ran"] in ("ran", "failed") else "")
    else:
        rows = "; ".join(
            f"{c['name']} {c['decision_text']}, {c['ran_text']}"
            + (f": {c['result']}" if c["result"] and c["ran"] in ("ran", "failed") else "")
            for c in calls
        )
        text = f"Decided {len(calls)} calls (request {req.request_id[:12]}): {rows}. {_thread_text(result)}"
    kind = "ok" if result.status == "done" else "info"
    return {"text": text, "kind": kind, "href": f"/requests/{req.request_id}"}


def _after_decision(
    service: InboxService, req: PendingRequest, result: RunResult
) -> tuple[dict[str, str], str]:
    """(flash, where to go) after `decide` returned."""
    again = [p for p in result.pending if p.node == req.node and refusal_of(p)]
    if again:
        # The runner accepted the answer but the graph refused it and asked again (its rules changed).
        text = f"The graph refused the decision and asks again: {refusal_of(again[0])}"
        target = f"/requests/{again[0].request_id}"
        return {"text": text, "kind": "error", "href": target}, target
    return _flash(req, result, service.outcome(service.get(req.request_id))), "/"


@router.post("/requests/{request_id}/decision", response_class=HTMLResponse)
def decide(request: Request, request_id: str, user: User, form: FormData) -> Response:
    """Apply a decision form (one action) or a per-call form (several) as the signed-in approver."""
    check_csrf(request, form.get("csrf", ""))
    service = state_of(request).inbox
    try:
        req = service.get(request_id)
    except NotPendingError:
        return _not_found(request, request_id)
    count = len(req.payload["action_requests"])
    try:
        result = service.decide(req.request_id, build_form_decision(req, form), approver=user)
    except CallDecisionError as exc:
        return _detail(request, user, req, error=str(exc), call=exc.call, form=form, status_code=400)
    except AuthorizationError as exc:
        call = call_of(str(exc), count)
        return _detail(request, user, req, error=str(exc), call=call, form=form, status_code=403)
    except DecisionError as exc:
        call = call_of(str(exc), count)
        return _detail(request, user, req, error=str(exc), call=call, form=form, status_code=400)
    except (ConflictError, NotPendingError) as exc:
        return _detail(request, user, service.get(req.request_id), error=str(exc), form=form, status_code=409)
    except HaltedError as exc:  # the decision is recorded; a halt stopped the handler, which waits
        return _detail(request, user, service.get(req.request_id), error=str(exc), status_code=409)
    except ReadOnlyInboxError as exc:
        return _detail(request, user, req, error=str(exc), form=form, status_code=503)
    flash, target = _after_decision(service, req, result)
    session = session_of(request)
    session.flash, session.dirty = flash, True
    return RedirectResponse(target, status_code=303)
