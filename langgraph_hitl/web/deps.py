"""What every route needs: the app's state, the signed-in approver, CSRF checks, rendering.

Pages authenticate with the session cookie (and redirect to the login page without one);
the JSON API authenticates with `Authorization: Bearer <token>` only (and answers 401),
so a cookie alone can never drive the API from another site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from .auth import Authenticator, Session, SessionCodec
from .service import InboxService
from .throttle import FailureThrottle

__all__ = [
    "CsrfError",
    "LoginRequired",
    "WebState",
    "api_user",
    "check_csrf",
    "client_of",
    "page_user",
    "render",
    "session_of",
    "signed_in",
    "state_of",
]

_bearer = HTTPBearer(auto_error=False, description="An approver's token: `Authorization: Bearer <token>`.")


@dataclass
class WebState:
    """Everything the routes share, kept on `app.state.hitl_web`."""

    title: str
    auth: Authenticator
    codec: SessionCodec
    templates: Jinja2Templates
    throttle: FailureThrottle
    """Counts wrong tokens per client (sign-in form and bearer tokens)."""
    link_signer: Any = None
    nonce_store: Any = None
    links_need_sign_in: bool = True
    """Approval links are redeemed only by their approver, signed in."""
    service: InboxService | None = None
    """Set by the lifespan once the runner is open."""
    sessions: Any = None
    """The `sessions.SessionStore`, set by the lifespan (it lives in the database)."""

    @property
    def inbox(self) -> InboxService:
        """The runner; only None before startup."""
        if self.service is None:
            msg = "The web inbox has not started: serve the app (uvicorn) or use `with TestClient(app)`."
            raise RuntimeError(msg)
        return self.service


class LoginRequired(Exception):
    """A page needs a signed-in approver; answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfError(Exception):
    """A form arrived without the session's CSRF token; answered with 403."""


def state_of(request: Request) -> WebState:
    """The app's `WebState`."""
    state: WebState = request.app.state.hitl_web
    return state


def session_of(request: Request) -> Session:
    """The request's session, loaded by the session middleware."""
    session: Session = request.state.session
    return session


def page_user(request: Request) -> str:
    """The signed-in approver of a page request.

    Raises:
        LoginRequired: Nobody is signed in, or their token was replaced or removed since.
    """
    who = signed_in(request)
    if who is None:
        # The path as sent, still percent-encoded: a thread id with a space or a `%` in it
        # comes back to the same page after sign-in.
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.url.path
        target = path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return who


def signed_in(request: Request) -> str | None:
    """The approver signed in to this request's session, or None.

    A session counts while its row is in the database (not signed out, not expired) and the
    approver's token is still the one they signed in with.
    """
    session = session_of(request)
    who = session.approver
    if not session.signed_in or who is None or session.fingerprint is None:
        return None
    return who if state_of(request).auth.fingerprint(who) == session.fingerprint else None


def client_of(request: Request) -> str:
    """The client's address, the key wrong tokens are counted under."""
    return request.client.host if request.client is not None else "unknown"


def api_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The approver whose bearer token authenticates an API request.

    Raises:
        HTTPException: 401 without a token or with an unknown one; 429 after too many unknown
            tokens from this client (with `Retry-After`).
    """
    web = state_of(request)
    if credentials is not None:
        web.throttle.check(client_of(request))
    who = web.auth.identify(credentials.credentials if credentials else None)
    if who is None and credentials is not None:
        web.throttle.fail(client_of(request))
    if who is None:
        detail = (
            "Send an approver token: Authorization: Bearer <token>."
            if credentials is None
            else ("Unknown or revoked token.")
        )
        raise HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
    return who


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form post whose CSRF token is missing or not this session's.

    Raises:
        CsrfError: The token is missing or wrong.
    """
    if not state_of(request).codec.check_csrf(session_of(request), token):
        raise CsrfError


def safe_next(url: str | None) -> str:
    """A local path to go to after login; anything else becomes `/`."""
    # Browsers drop tabs and newlines inside URLs, so "/\t/evil.test" would become "//evil.test".
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return "/" if any(c.isspace() or not c.isprintable() for c in url) else url


def login_url(next_url: str) -> str:
    """The login page, remembering where to go next."""
    return "/login" if next_url in ("", "/") else f"/login?next={quote(next_url, safe='/')}"


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render `template` with the common context: title, user, CSRF token, flash message."""
    web = state_of(request)
    session = session_of(request)
    base = {
        "title": web.title,
        "user": signed_in(request),
        "csrf": web.codec.csrf_token(session),
        "flash": session.pop_flash(),
        "read_only": web.service is not None and not web.service.can_decide,
        "nav": "",
    }
    base.update(context or {})
    return web.templates.TemplateResponse(request, template, base, status_code=status_code)
