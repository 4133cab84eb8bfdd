"""Reversal in the web inbox: the "May be reversed" page and its Reverse buttons.

`/reversible` lists `Approvals.reversible()`: executed actions with a compensation, inside their
`Requirement(review_after_s=...)` window. Each row has a Reverse form (a reason is required) that
calls `Approvals.reverse(action_id, approver=<the signed-in person>, reason=...)`, so the policy's
requirement for `reverse:NAME` decides who may (anyone else gets 403, audited by the runner), the
ledger runs the compensation at most once (a second click says it was already reversed) and the
audit log tells the story. The form never says who asks, and carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..approvals.reversal import Reversal, ReversalError
from ..errors import AuthorizationError, ConflictError, HaltedError, NotPendingError
from .deps import check_csrf, page_user, render, session_of, state_of
from .oversight_views import reversible_view
from .pages import form_data
from .service import ReadOnlyInboxError

__all__ = ["outcome_text", "router"]

router = APIRouter(include_in_schema=False)

User = Annotated[str, Depends(page_user)]
FormData = Annotated[dict[str, str], Depends(form_data)]

_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ReversalError, 400),
    (AuthorizationError, 403),
    (NotPendingError, 404),
    (HaltedError, 409),
    (ConflictError, 409),
    (ReadOnlyInboxError, 503),
    (ValueError, 400),
)
"""How each refusal of `reverse` is answered (first match); the page shows its message."""


def _page(
    request: Request, *, error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    service = state_of(request).inbox
    now = service.clock()
    return render(
        request,
        "reversible.html",
        {
            "rows": [reversible_view(a, now) for a in service.reversible()],
            "error": error,
            "form": form or {},
            "nav": "reversible",
        },
        status_code=status_code,
    )


def outcome_text(done: Reversal) -> tuple[str, str]:
    """What the page says after `reverse` returned, and the flash kind."""
    what = f"{done.action} (action {done.action_id})"
    if done.status == "pending":
        return (
            f"Your request to reverse {what} is recorded: {len(done.requested_by)} of {done.needed} "
            f"people have asked ({', '.join(done.requested_by)}); it runs when {done.needed} different "
            "people have asked.",
            "info",
        )
    if done.replayed:
        if done.status == "reversed":
            return f"{what} was already reversed; nothing ran again.", "info"
        return f"Reversing {what} failed before ({done.error}); it is not run again.", "error"
    if done.status == "reversed":
        result = f": {done.result}" if done.result is not None else "."
        return f"Reversed {what}{result}", "ok"
    return f"Reversing {what} failed: {done.error}", "error"


@router.get("/reversible", response_class=HTMLResponse)
def reversible(request: Request, user: User) -> Response:
    """Executed actions that may still be reversed, soonest closing first."""
    return _page(request)


@router.post("/reversible/reverse", response_class=HTMLResponse)
def reverse(request: Request, user: User, form: FormData) -> Response:
    """Reverse the posted action as the signed-in person (the policy decides whether they may)."""
    check_csrf(request, form.get("csrf", ""))
    target = form.get("action_id", "")
    try:
        if not target:
            msg = "No action to reverse: use the Reverse button of a row on this page."
            raise ValueError(msg)
        done = state_of(request).inbox.reverse(target, approver=user, reason=form.get("reason", ""))
    except tuple(kind for kind, _ in _STATUS) as exc:
        status = next(code for kind, code in _STATUS if isinstance(exc, kind))
        return _page(request, error=str(exc), form=form, status_code=status)
    text, kind = outcome_text(done)
    session = session_of(request)
    session.flash, session.dirty = {"text": text, "kind": kind, "href": ""}, True
    return RedirectResponse("/reversible", status_code=303)
