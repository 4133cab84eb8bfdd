"""The JSON API under `/api`, mirroring the pages; authenticated with `Authorization: Bearer <token>`.

A request with several actions (a `ToolGateNode` question) is decided with langchain's
`{"decisions": [...]}`, one per action, in order, through the same `Approvals.decide` as the
pages. Errors answer `{"detail": "<message>", "error": "<ErrorClass>", "call": <index or null>}`
(`call` names the action a multi-action decision was refused for, from 0): 400 for a malformed
or disallowed decision, 401 without a valid token, 403 when the caller may not decide the
request, 404 for an unknown request, 409 when it is no longer pending or another decision won,
413 for a body over the limit, 429 after too many unknown tokens (with `Retry-After`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..approvals import PendingRequest, RunResult
from ..decisions import DecisionBatchModel, DecisionModel
from ..errors import AuthorizationError, ConflictError, DecisionError, HaltedError, HITLError, NotPendingError
from .deps import api_user, state_of
from .forms import call_of
from .outcome import refusal_of
from .service import InboxService, ReadOnlyInboxError

__all__ = ["router"]


class Problem(BaseModel):
    """An error answer."""

    detail: str
    """What was wrong and how to fix it."""
    error: str
    """The error's class, e.g. `AuthorizationError`."""
    call: int | None = None
    """For a decision of several actions: the index (from 0) of the one refused, if known."""


class Report(BaseModel):
    """What became of a request, in plain words."""

    status_text: str
    """`Waiting for a decision`, `Decided`, `Timed out`, `Cancelled` or `Decision being applied`."""
    summary: str
    """One paragraph: who decided what, what ran and what it returned, what the thread waits for."""
    calls: list[dict[str, Any]]
    """Per action: `name`, `decision`, `decision_text`, `message`, `ran` (`ran`, `failed`, `not run`,
    `waiting`, `unknown`, `pending`) and `result` (the handler's return value or the tool's answer, as text)."""
    next: list[dict[str, str]]
    """The thread's pending requests created after this one: `request_id`, `node`, `action`."""


class RequestPage(BaseModel):
    """A page of pending requests, newest first."""

    items: list[dict[str, Any]]
    """`PendingRequest.to_dict()` of each request: ids, action, risk, approvers, deadline, payload."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class DecisionOutcome(BaseModel):
    """Where things stand after a decision."""

    request: dict[str, Any]
    """The decided request (`status` is `resumed` once the graph took the answer)."""
    thread_id: str
    """The request's thread."""
    thread_status: Literal["paused", "done"]
    """`done` when the run finished, `paused` when it waits for another decision."""
    outcome: str | None
    """The run's `status` value (e.g. `executed`, `rejected`), when it has one."""
    pending: list[str]
    """Request ids the thread now waits on."""
    what_happened: Literal["finished", "waiting", "asked_again"]
    """`finished`: the run ended; `waiting`: it waits for another decision (`pending`);
    `asked_again`: the graph refused the answer and asks the same question again (see `refused`)."""
    refused: str | None
    """Why the graph asked again (`asked_again` only)."""
    report: Report
    """The decided request in plain words, with each action's result."""


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "Malformed or disallowed decision"),
        (401, "Missing or unknown bearer token"),
        (403, "The caller may not decide this request"),
        (404, "No such request"),
        (409, "The request is no longer pending, or another decision won"),
        (413, "The request body is over the limit"),
        (429, "Too many unknown tokens from this client; see Retry-After"),
    )
}

router = APIRouter(
    prefix="/api", tags=["approvals"], responses={code: _ERRORS[code] for code in (401, 413, 429)}
)
Approver = Annotated[str, Depends(api_user)]
_STATUS: dict[type[HITLError], int] = {
    DecisionError: 400,
    AuthorizationError: 403,
    ConflictError: 409,
    HaltedError: 409,  # the decision is recorded; the handler waits for the halt to be lifted
    ReadOnlyInboxError: 503,
}


def _problem(exc: HITLError | ValueError, status: int, call: int | None = None) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__, "call": call}, status_code=status)


@router.get("/requests", response_model=RequestPage, responses={400: _ERRORS[400]})
def list_requests(
    request: Request,
    approver: Approver,
    risk: Annotated[Literal["low", "medium", "high", "critical"] | None, Query()] = None,
    mine: Annotated[bool, Query(description="Only requests the caller may decide.")] = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Pending requests, newest first (paginate with `next_cursor`)."""
    try:
        page = state_of(request).inbox.pending(
            approver=approver if mine else None, risk=risk, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        return _problem(exc, 400)
    return {"items": [r.to_dict() for r in page.items], "next_cursor": page.next_cursor}


@router.get("/requests/{request_id}", responses={404: _ERRORS[404]})
def get_request(request: Request, request_id: str, approver: Approver) -> Any:
    """One request, whatever its status, with its thread's audit history."""
    service = state_of(request).inbox
    try:
        req = service.get(request_id)
    except NotPendingError as exc:
        return _problem(exc, 404)
    return {
        **req.to_dict(),
        "history": service.history(req.thread_id),
        "may_decide": req.status == "pending" and service.refusal(req, approver) is None,
        "report": service.outcome(req),
    }


@router.post(
    "/requests/{request_id}/decision",
    response_model=DecisionOutcome,
    responses={code: _ERRORS[code] for code in (400, 403, 404, 409)},
)
def decide(
    request: Request,
    request_id: str,
    approver: Approver,
    decision: Annotated[
        DecisionModel | DecisionBatchModel,
        Body(
            openapi_examples={
                "approve": {"value": {"type": "approve"}},
                "verify": {
                    "summary": "approve a verify gate",
                    "value": {"type": "approve", "verify": "DELETE 4821"},
                },
                "edit": {
                    "value": {
                        "type": "edit",
                        "edited_action": {"name": "send_email", "args": {"to": "ops@x.test"}},
                    }
                },
                "reject": {"value": {"type": "reject", "message": "Wrong customer."}},
                "several": {
                    "summary": "one decision per action of a multi-action request, in order",
                    "value": {
                        "decisions": [
                            {"type": "approve"},
                            {"type": "reject", "message": "Not this record."},
                        ]
                    },
                },
            }
        ),
    ],
) -> Any:
    """Decide a pending request as the caller (the token's approver; an `approver` field must match it)."""
    service = state_of(request).inbox
    try:
        req = service.get(request_id)
    except NotPendingError as exc:
        return _problem(exc, 404)
    if req.status != "pending":
        return _problem(NotPendingError(f"Request {req.request_id} is {req.status}, not pending."), 409)
    try:
        result = service.decide(req.request_id, decision.model_dump(exclude_none=True), approver=approver)
    except NotPendingError as exc:
        return _problem(exc, 409)
    except HITLError as exc:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return _problem(exc, status, call_of(str(exc), len(req.payload["action_requests"])))
    return _decided(service, req, result)


def _decided(service: InboxService, req: PendingRequest, result: RunResult) -> dict[str, Any]:
    outcome = result.values.get("status")
    again = [p for p in result.pending if p.node == req.node and refusal_of(p)]
    return {
        "request": service.get(req.request_id).to_dict(),
        "thread_id": result.thread_id,
        "thread_status": result.status,
        "outcome": outcome if isinstance(outcome, str) else None,
        "pending": [p.request_id for p in result.pending],
        "what_happened": "asked_again" if again else ("finished" if result.status == "done" else "waiting"),
        "refused": refusal_of(again[0]) if again else None,
        "report": service.outcome(service.get(req.request_id)),
    }


@router.get("/audit")
def audit(
    request: Request,
    approver: Approver,
    thread_id: str | None = None,
    request_id: str | None = None,
    actor: str | None = None,
    event: str | None = None,
    action: str | None = None,
    since: Annotated[str | None, Query(description="ISO 8601 time")] = None,
    until: Annotated[str | None, Query(description="ISO 8601 time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    verify: Annotated[bool, Query(description="Also recompute the hash chain.")] = False,
) -> Any:
    """Audit events matching every filter, newest first; `verify=true` adds the chain's status."""
    service = state_of(request).inbox
    try:
        filters = {
            "thread_id": thread_id,
            "request_id": request_id,
            "actor": actor,
            "event": event,
            "action": action,
            "since": since,
            "until": until,
        }
        events = service.audit(limit=limit, **{k: v for k, v in filters.items() if v})
    except ValueError as exc:
        return _problem(exc, 400)
    body: dict[str, Any] = {"events": events}
    if verify:
        result = service.verify()
        body["verify"] = {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad_seq": result.first_bad_seq,
            "reason": result.reason,
        }
    return body


@router.get("/stats")
def stats(
    request: Request,
    approver: Approver,
    since: Annotated[str | None, Query(description="ISO 8601 time")] = None,
) -> Any:
    """Approval counts, rates, decision times and tuning flags per gate, action and approver."""
    try:
        return state_of(request).inbox.stats(since=since)
    except ValueError as exc:
        return _problem(exc, 400)
