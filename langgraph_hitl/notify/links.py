"""One-time approval links: signed, bound to one request, approver and decision, expiring.

A token is `<payload>.<signature>`, both base64url without padding. The payload is
compact JSON holding the request id, the approver, the decision (`approve` or
`reject`), the expiry and a random nonce; the signature is HMAC-SHA256 over the
encoded payload, keyed with the signer's secret and separated from webhook
signatures by a fixed prefix. `LinkSigner.check` proves a token genuine and
current; `LinkSigner.redeem` also burns its nonce in a `NonceStore`, so a link
works once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._canonical import iso
from ..errors import HITLError

__all__ = [
    "LinkClaim",
    "LinkDecision",
    "LinkError",
    "LinkSigner",
    "MemoryNonceStore",
    "NonceStore",
    "SQLiteNonceStore",
]

LinkDecision = Literal["approve", "reject"]
"""What an approval link does when opened: approve or reject the request it is bound to."""

_DECISIONS: tuple[str, ...] = ("approve", "reject")
_DOMAIN = b"langgraph-hitl.link.v1."


class LinkError(HITLError, ValueError):
    """An approval link is malformed, tampered with, expired, already used, or for something else."""


@dataclass(frozen=True)
class LinkClaim:
    """What a genuine, unexpired approval link says."""

    request_id: str
    """The request the link decides."""
    approver: str
    """Who the link was issued to; decide as this approver."""
    decision: LinkDecision
    """The decision the link carries."""
    expires_at: float
    """Unix seconds after which the link no longer works."""
    nonce: str
    """Random id that `redeem` burns, so the link works once."""


@runtime_checkable
class NonceStore(Protocol):
    """Remembers which link nonces were used (the replay guard behind `LinkSigner.redeem`)."""

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        """Mark `nonce` used; return False if it was already used."""
        ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks one-time approval links.

    Args:
        secret: The signing key (text is UTF-8 encoded); keep it server-side only.
        ttl_s: Seconds a link stays valid after it is made.
        clock: Returns the current Unix time; inject a fake one in tests.

    Raises:
        LinkError: If `secret` is empty or `ttl_s` is not positive.

    Example:
        >>> signer = LinkSigner("s3cret", ttl_s=600)
        >>> token = signer.make_token("req-1", "alice", "approve")
        >>> signer.redeem(token, store=MemoryNonceStore(), request_id="req-1").decision
        'approve'
    """

    def __init__(
        self, secret: str | bytes, *, ttl_s: float = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if not key:
            msg = "LinkSigner secret is empty; pass a long random string (e.g. secrets.token_urlsafe(32))."
            raise LinkError(msg)
        if not ttl_s > 0:
            msg = f"LinkSigner ttl_s={ttl_s!r} must be a positive number of seconds (e.g. 3600)."
            raise LinkError(msg)
        self._key = key
        self.ttl_s = float(ttl_s)
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest())

    def make_token(self, request_id: str, approver: str, decision: LinkDecision) -> str:
        """Make a URL-safe token that decides `request_id` as `approver`, once.

        Args:
            request_id: The request the link decides.
            approver: Who the link is for; the decision is recorded under this name.
            decision: `approve` or `reject`.

        Returns:
            The token, `<payload>.<signature>` in base64url.

        Raises:
            LinkError: If an argument is empty or `decision` is not approve/reject.

        Example:
            >>> "." in LinkSigner("s3cret").make_token("req-1", "alice", "reject")
            True
        """
        for name, value in (("request_id", request_id), ("approver", approver)):
            if not isinstance(value, str) or not value:
                msg = f"Cannot make an approval link: {name}={value!r} must be a non-empty string."
                raise LinkError(msg)
        if decision not in _DECISIONS:
            msg = f"Cannot make an approval link for decision {decision!r}. Allowed: approve, reject."
            raise LinkError(msg)
        claims = {
            "r": request_id,
            "a": approver,
            "d": decision,
            "e": round(self._clock() + self.ttl_s, 3),
            "n": secrets.token_urlsafe(16),
        }
        payload = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def make_url(self, base_url: str, request_id: str, approver: str, decision: LinkDecision) -> str:
        """Make an approval link: `base_url` with the token added as the `token` query parameter.

        Args:
            base_url: The page that redeems links, e.g. `https://hitl.example.com/links`.
            request_id: The request the link decides.
            approver: Who the link is for.
            decision: `approve` or `reject`.

        Returns:
            The URL; any query parameters already in `base_url` are kept.

        Raises:
            LinkError: As `make_token`, or if `base_url` is not an http(s) URL.

        Example:
            >>> LinkSigner("s3cret").make_url("https://x.test/links", "r1", "alice", "approve")[:29]
            'https://x.test/links?token=ey'
        """
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = f"Approval link base_url {base_url!r} is not an http(s) URL; pass e.g. 'https://hitl.example.com/links'."
            raise LinkError(msg)
        query = [
            *parse_qsl(parts.query, keep_blank_values=True),
            ("token", self.make_token(request_id, approver, decision)),
        ]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def check(
        self,
        token: str,
        *,
        request_id: str | None = None,
        approver: str | None = None,
        decision: LinkDecision | None = None,
    ) -> LinkClaim:
        """Verify a token without using it up.

        Args:
            token: The token from the link.
            request_id: If given, the request the caller is deciding; a token for another one is refused.
            approver: If given, the approver expected; a token issued to someone else is refused.
            decision: If given, the decision expected; a token for the other decision is refused.

        Returns:
            The link's claims.

        Raises:
            LinkError: If the token is malformed, tampered with or signed with another secret,
                expired, or bound to another request, approver or decision.

        Example:
            >>> signer = LinkSigner("s3cret")
            >>> signer.check(signer.make_token("r1", "alice", "approve")).approver
            'alice'
        """
        payload, dot, signature = token.partition(".") if isinstance(token, str) else ("", "", "")
        if not dot or not payload or not signature or "." in signature or not token.isascii():
            msg = "Approval link token is malformed: expected '<payload>.<signature>' in base64url. Copy the whole link."
            raise LinkError(msg)
        if not hmac.compare_digest(self._mac(payload).encode("ascii"), signature.encode("ascii")):
            msg = "Approval link token was tampered with or signed with another secret; it cannot be used."
            raise LinkError(msg)
        claim = _decode(payload)
        now = self._clock()
        if now >= claim.expires_at:
            msg = (
                f"Approval link for request {claim.request_id} expired at {iso(claim.expires_at)} "
                f"({now - claim.expires_at:.0f} s ago); ask for a new link."
            )
            raise LinkError(msg)
        for field, expected in (("request", request_id), ("approver", approver), ("decision", decision)):
            actual = getattr(claim, "request_id" if field == "request" else field)
            if expected is not None and actual != expected:
                msg = f"Approval link is for {field} {actual!r}, not {expected!r}; it cannot be used here."
                raise LinkError(msg)
        return claim

    def redeem(
        self,
        token: str,
        *,
        store: NonceStore,
        request_id: str | None = None,
        approver: str | None = None,
        decision: LinkDecision | None = None,
    ) -> LinkClaim:
        """Verify a token as `check` does, then burn its nonce so it never works again.

        A token refused by `check` (wrong request, expired, ...) is not burned.

        Args:
            token: The token from the link.
            store: Where used nonces are kept (`SQLiteNonceStore`, `MemoryNonceStore`, or your own).
            request_id: As in `check`.
            approver: As in `check`.
            decision: As in `check`.

        Returns:
            The link's claims; apply the decision as `claim.approver`.

        Raises:
            LinkError: As `check`, or if the link was already used.

        Example:
            >>> signer, store = LinkSigner("s3cret"), MemoryNonceStore()
            >>> token = signer.make_token("r1", "alice", "approve")
            >>> signer.redeem(token, store=store).request_id
            'r1'
        """
        claim = self.check(token, request_id=request_id, approver=approver, decision=decision)
        if not store.claim_nonce(claim.nonce, claim.expires_at):
            msg = f"Approval link for request {claim.request_id} ({claim.decision} as {claim.approver}) was already used."
            raise LinkError(msg)
        return claim


def _decode(payload: str) -> LinkClaim:
    try:
        data: Any = json.loads(_unb64(payload))
    except (binascii.Error, ValueError) as exc:
        msg = f"Approval link token is malformed: its payload is not base64url JSON ({exc})."
        raise LinkError(msg) from exc
    ok = (
        isinstance(data, dict)
        and all(isinstance(data.get(k), str) and data[k] for k in ("r", "a", "n"))
        and data.get("d") in _DECISIONS
        and isinstance(data.get("e"), (int, float))
    )
    if not ok:
        msg = "Approval link token is malformed: its payload lacks request, approver, decision, expiry or nonce."
        raise LinkError(msg)
    return LinkClaim(
        request_id=data["r"],
        approver=data["a"],
        decision=data["d"],
        expires_at=float(data["e"]),
        nonce=data["n"],
    )


class MemoryNonceStore:
    """Keeps used nonces in this process's memory: for tests and single-process apps.

    Example:
        >>> store = MemoryNonceStore()
        >>> store.claim_nonce("n1", 2e9), store.claim_nonce("n1", 2e9)
        (True, False)
    """

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        """Mark `nonce` used; return False if it was already used."""
        with self._lock:
            if nonce in self._used:
                return False
            self._used[nonce] = expires_at
            return True

    def purge(self, *, before: float | None = None) -> int:
        """Forget nonces of links that expired before `before` (default: now); return how many.

        Call it with the same clock as the `LinkSigner`: a forgotten nonce is only safe
        once `check` refuses its link as expired.
        """
        cutoff = time.time() if before is None else before
        with self._lock:
            old = [n for n, exp in self._used.items() if exp < cutoff]
            for nonce in old:
                del self._used[nonce]
            return len(old)


class SQLiteNonceStore:
    """Keeps used nonces in the SQLite table `hitl_link_nonces`, shared by every process using the file.

    Args:
        path_or_conn: A database file path (the store opens and closes its own connection),
            or an open `sqlite3.Connection` (left open; each claim commits on it).

    Example:
        >>> with SQLiteNonceStore(":memory:") as store:
        ...     store.claim_nonce("n1", 2e9), store.claim_nonce("n1", 2e9)
        (True, False)
    """

    def __init__(self, path_or_conn: str | os.PathLike[str] | sqlite3.Connection) -> None:
        self._owned = not isinstance(path_or_conn, sqlite3.Connection)
        if isinstance(path_or_conn, sqlite3.Connection):
            self._conn = path_or_conn
        else:
            self._conn = sqlite3.connect(
                os.fspath(path_or_conn), timeout=30, check_same_thread=False, isolation_level=None
            )
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS hitl_link_nonces (nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL, used_at REAL NOT NULL)"
            )

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        """Mark `nonce` used; return False if any connection to this database used it before."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO hitl_link_nonces (nonce, expires_at, used_at) VALUES (?, ?, ?)",
                (nonce, expires_at, time.time()),
            )
            return cursor.rowcount == 1

    def purge(self, *, before: float | None = None) -> int:
        """Delete nonces of links that expired before `before` (default: now); return how many.

        Use the `LinkSigner`'s clock: a deleted nonce is only safe once `check` refuses its link as expired.
        """
        cutoff = time.time() if before is None else before
        with self._lock, self._conn:
            return self._conn.execute("DELETE FROM hitl_link_nonces WHERE expires_at < ?", (cutoff,)).rowcount

    def close(self) -> None:
        """Close the connection if the store opened it."""
        if self._owned:
            self._conn.close()

    def __enter__(self) -> SQLiteNonceStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
