"""The stop switch in the web inbox: the halt banner and the Operations page.

While any halt is on, every page a signed-in person sees opens with a banner naming each halt
(scope, reason, who, since), and each pending request it covers says so (`PendingRequest.halted`).

The Operations page (`/operations`) is for the operators `create_app(operators=...)` names:
halt (`all`, `graph:NAME`, `action:NAME`) with a reason, lift a halt, continue the runs a lifted
halt stopped, and see active and past halts. Anyone else gets 403 saying who may. The actor is
always the signed-in person: a form field naming someone else is ignored. Every form carries the
session's CSRF token, checked before anything else, and every change goes through the runner
(`Approvals.halt` / `unhalt` / `resume_halted`), which audits it and tells the notifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..errors import AuthorizationError, HITLError, NotPendingError
from .deps import WebState, check_csrf, page_user, render, session_of, state_of
from .oversight_views import SCOPE_KINDS, Operators, halt_view, scope_of
from .pages import form_data
from .service import ReadOnlyInboxError

__all__ = ["install_globals", "operators_of", "router"]

router = APIRouter(include_in_schema=False)

User = Annotated[str, Depends(page_user)]
FormData = Annotated[dict[str, str], Depends(form_data)]


def operators_of(request: Request) -> Operators:
    """The app's operators (nobody when the app was built without them)."""
    found = getattr(request.app.state, "hitl_operators", None)
    return found if isinstance(found, Operators) else Operators(None, [])


def install_globals(web: WebState, operators: Operators) -> None:
    """Give the templates `active_halts(user)` (the banner) and `is_operator(user)` (the menu).

    The banner is read for signed-in people only, through the runner, on every page they see.
    """

    def active_halts(user: str | None) -> list[dict[str, Any]]:
        service = web.service
        if not user or service is None:
            return []
        now = service.clock()
        return [halt_view(h, now) for h in service.halts()]

    web.templates.env.globals["active_halts"] = active_halts
    web.templates.env.globals["is_operator"] = operators.allows


def _refused(request: Request, user: str) -> Response:
    return render(
        request,
        "message.html",
        {"heading": "Operators only", "message": operators_of(request).refusal(user)},
        status_code=403,
    )


def _page(
    request: Request, *, error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    service = state_of(request).inbox
    now = service.clock()
    every = [halt_view(h, now) for h in service.halts(lifted=True)]
    return render(
        request,
        "operations.html",
        {
            "active": [h for h in every if h["active"]],
            "past": [h for h in every if not h["active"]],
            "kinds": SCOPE_KINDS,
            "error": error,
            "form": form or {},
            "can_resume": service.can_decide,
            "nav": "operations",
        },
        status_code=status_code,
    )


def _done(request: Request, text: str, kind: str = "ok") -> Response:
    session = session_of(request)
    session.flash, session.dirty = {"text": text, "kind": kind, "href": ""}, True
    return RedirectResponse("/operations", status_code=303)


def _guarded(request: Request, user: str, form: dict[str, str], act: Callable[[], Response]) -> Response:
    """Check the CSRF token, then that `user` is an operator, then `act`; the runner's refusals
    are shown on the page (400 bad input, 403 not allowed, 409 the state moved on, 503 no graph)."""
    check_csrf(request, form.get("csrf", ""))
    if not operators_of(request).allows(user):
        return _refused(request, user)
    try:
        return act()
    except AuthorizationError as exc:
        return _page(request, error=str(exc), form=form, status_code=403)
    except NotPendingError as exc:
        return _page(request, error=str(exc), form=form, status_code=409)
    except ReadOnlyInboxError as exc:
        return _page(request, error=str(exc), form=form, status_code=503)
    except (ValueError, HITLError) as exc:
        return _page(request, error=str(exc), form=form, status_code=400)


@router.get("/operations", response_class=HTMLResponse)
def operations(request: Request, user: User) -> Response:
    """Active and past halts, and the forms to halt, lift and continue (operators only)."""
    if not operators_of(request).allows(user):
        return _refused(request, user)
    return _page(request)


@router.post("/operations/halt", response_class=HTMLResponse)
def halt(request: Request, user: User, form: FormData) -> Response:
    """Halt a scope as the signed-in operator."""

    def act() -> Response:
        scope = scope_of(form.get("kind", ""), form.get("name", ""))
        done = state_of(request).inbox.halt(scope, reason=form.get("reason", ""), actor=user)
        return _done(request, f"Halted {done.scope}: no handler under it starts until the halt is lifted.")

    return _guarded(request, user, form, act)


@router.post("/operations/unhalt", response_class=HTMLResponse)
def unhalt(request: Request, user: User, form: FormData) -> Response:
    """Lift the halt on exactly the posted scope as the signed-in operator."""

    def act() -> Response:
        done = state_of(request).inbox.unhalt(
            form.get("scope", ""), reason=form.get("reason", ""), actor=user
        )
        return _done(
            request,
            f"Lifted the halt on {done.scope}. Runs it stopped wait: continue them with "
            "'Continue stopped runs'.",
        )

    return _guarded(request, user, form, act)


@router.post("/operations/resume", response_class=HTMLResponse)
def resume(request: Request, user: User, form: FormData) -> Response:
    """Continue the runs a halt stopped before a handler, now that nothing covers them."""

    def act() -> Response:
        threads = state_of(request).inbox.resume_halted()
        if not threads:
            return _done(
                request, "No stopped run could continue (still halted, or none was stopped).", "info"
            )
        shown = ", ".join(threads[:20]) + (f" and {len(threads) - 20} more" if len(threads) > 20 else "")
        return _done(request, f"Continued {len(threads)} run(s): {shown}.")

    return _guarded(request, user, form, act)
