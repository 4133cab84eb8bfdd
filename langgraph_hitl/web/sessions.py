"""Server-side sessions: a signed cookie names a session; the database says whether it is live.

The cookie holds only a random session id and its expiry, signed. Who is signed in (and their
token's fingerprint, and the next page's flash message) lives in the table `hitl_web_sessions`
beside the inbox, keyed by the sha256 of the session id, so a copy of the database cannot be
turned into cookies. Signing out deletes the row: a copied cookie stops working at once, in
every server process using the database. A visitor who has not signed in has no row; their
cookie only binds CSRF tokens.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .auth import Session, SessionCodec

__all__ = ["SQL_SETUP", "Database", "SessionStore"]

SQL_SETUP = (
    "CREATE TABLE IF NOT EXISTS hitl_web_sessions ("
    "sid_hash TEXT PRIMARY KEY, approver TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, flash TEXT)"
)
"""The table's definition (the same SQL on SQLite and Postgres)."""


class Database(Protocol):
    """What the session store needs: the store's backend (`Store.backend`) has it."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement (`?` placeholders) and return its rows."""
        ...


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """Signed-in sessions kept in the database, behind the cookies `codec` signs.

    Args:
        db: The store's backend (SQLite or Postgres); the table is created if missing.
        codec: Signs and reads the cookie, and derives CSRF tokens.
        clock: Unix time, for expiry.
    """

    def __init__(self, db: Database, codec: SessionCodec, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.codec = codec
        self._clock = clock
        db.execute(SQL_SETUP)

    def visitor(self) -> Session:
        """A fresh session nobody is signed in to (it only binds CSRF tokens)."""
        sid = secrets.token_urlsafe(24)
        return Session(sid=sid, expires_at=self._clock() + self.codec.ttl_s, dirty=True)

    def load(self, cookie: str | None) -> Session | None:
        """The session a cookie names, or None if the cookie is missing, forged or expired.

        A cookie whose row is gone (signed out, or never signed in) is a visitor's session.
        """
        claim = self.codec.loads(cookie)
        if claim is None:
            return None
        sid, expires_at = claim
        rows = self.db.execute(
            "SELECT approver, fingerprint, expires_at, flash FROM hitl_web_sessions WHERE sid_hash = ?",
            (_hash(sid),),
        )
        if not rows or float(rows[0]["expires_at"]) <= self._clock():
            return Session(sid=sid, expires_at=expires_at)
        row = rows[0]
        flash = json.loads(row["flash"]) if row["flash"] else None
        return Session(
            sid=sid,
            approver=str(row["approver"]),
            fingerprint=str(row["fingerprint"]),
            expires_at=expires_at,
            flash=flash if isinstance(flash, dict) else None,
            signed_in=True,
        )

    def login(self, approver: str, fingerprint: str) -> Session:
        """A new signed-in session for `approver`, under a new id (no session fixation)."""
        session = self.visitor()
        now = self._clock()
        self.db.execute("DELETE FROM hitl_web_sessions WHERE expires_at <= ?", (now,))
        self.db.execute(
            "INSERT INTO hitl_web_sessions (sid_hash, approver, fingerprint, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (_hash(session.sid), approver, fingerprint, now, session.expires_at),
        )
        session.approver, session.fingerprint, session.signed_in = approver, fingerprint, True
        return session

    def logout(self, session: Session) -> Session:
        """End `session` for every copy of its cookie; return a fresh visitor session."""
        self.db.execute("DELETE FROM hitl_web_sessions WHERE sid_hash = ?", (_hash(session.sid),))
        return self.visitor()

    def save(self, session: Session) -> None:
        """Store the session's flash message (signed-in sessions only)."""
        if session.signed_in:
            flash = json.dumps(session.flash) if session.flash else None
            self.db.execute(
                "UPDATE hitl_web_sessions SET flash = ? WHERE sid_hash = ?", (flash, _hash(session.sid))
            )

    def cookie(self, session: Session) -> str:
        """The signed cookie value naming `session`."""
        return self.codec.dumps(session)

    def count(self, approver: str) -> int:
        """How many live sessions `approver` has (for tests and operators)."""
        rows = self.db.execute(
            "SELECT COUNT(*) AS n FROM hitl_web_sessions WHERE approver = ? AND expires_at > ?",
            (approver, self._clock()),
        )
        return int(rows[0]["n"])
