"""Who is asking: approver tokens, signed session cookies and CSRF tokens.

Identity comes from authentication only. A person logs in with their token and gets a
signed session cookie naming a server-side session (`sessions.py`); an API client sends the
token as `Authorization: Bearer <token>`.
Only sha256 hashes of tokens are kept in memory. Every form carries a CSRF token bound to
the session (an HMAC of the session id), so a page on another site cannot post as you.

A tokens file holds one approver per line, `name:token` (or `name:sha256:<hex>` to keep the
plain token off the disk); blank lines and `#` comments are skipped. A `.json` file holds an
object `{"alice": "token", ...}` instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MIN_TOKEN_LENGTH",
    "Authenticator",
    "Session",
    "SessionCodec",
    "hash_token",
    "load_approvers",
]

MIN_TOKEN_LENGTH = 16
"""Shortest approver token accepted; use `secrets.token_urlsafe(24)` or longer."""

_HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def hash_token(token: str) -> str:
    """The sha256 hex digest of `token`, as kept in memory and in hashed tokens files."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _read_tokens_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"Cannot read the approvers tokens file {str(path)!r}: {exc.strerror}."
        raise ValueError(msg) from exc
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            msg = f'{str(path)!r} must hold a JSON object like {{"alice": "<token>"}}.'
            raise ValueError(msg)
        return dict(data)
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        if not sep:
            msg = f"{str(path)!r} line {number}: expected 'name:token' (or 'name:sha256:<hex>')."
            raise ValueError(msg)
        if name.strip() in entries:
            msg = f"{str(path)!r} line {number}: approver {name.strip()!r} is listed twice."
            raise ValueError(msg)
        entries[name.strip()] = token.strip()
    return entries


def load_approvers(source: Mapping[str, str] | str | os.PathLike[str]) -> dict[str, str]:
    """Read approvers and their tokens; return approver -> sha256 hash of the token.

    Args:
        source: A mapping `{"alice": "<token>"}` or the path of a tokens file (see the module
            docstring). A value `sha256:<hex>` is taken as an already hashed token.

    Returns:
        Approver name -> token hash.

    Raises:
        ValueError: No approvers, a bad name, a short token, or one token shared by two approvers.
    """
    raw = _read_tokens_file(Path(source)) if isinstance(source, (str, os.PathLike)) else dict(source)
    if not raw:
        msg = "No approvers configured: pass approvers={'alice': '<token>'} or a tokens file with 'alice:<token>' lines."
        raise ValueError(msg)
    hashes: dict[str, str] = {}
    for name, token in raw.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
            msg = f"Approver name {name!r} is not valid: use 1-200 printable characters."
            raise ValueError(msg)
        if name.startswith("system:"):
            msg = f"Approver name {name!r} is reserved for the runner; choose another name."
            raise ValueError(msg)
        if not isinstance(token, str):
            msg = f"Token of approver {name!r} must be text, got {type(token).__name__}."
            raise ValueError(msg)
        match = _HASHED.fullmatch(token)
        if match is None and len(token) < MIN_TOKEN_LENGTH:
            msg = (
                f"Token of approver {name!r} is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                "random characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'."
            )
            raise ValueError(msg)
        digest = match.group(1) if match else hash_token(token)
        if digest in hashes.values():
            msg = f"Approver {name!r} shares a token with another approver; give each person their own token."
            raise ValueError(msg)
        hashes[name] = digest
    return hashes


class Authenticator:
    """Maps tokens to approvers by their sha256 hashes.

    Args:
        approvers: Approver name -> token hash, from `load_approvers`.
    """

    def __init__(self, approvers: Mapping[str, str]) -> None:
        self._by_hash = {digest: name for name, digest in approvers.items()}
        self._by_name = dict(approvers)

    @property
    def names(self) -> list[str]:
        """Configured approver names, sorted."""
        return sorted(self._by_name)

    def identify(self, token: str | None) -> str | None:
        """The approver whose token this is, or None."""
        if not token:
            return None
        digest = hash_token(token)
        name = self._by_hash.get(digest)
        if name is None or not hmac.compare_digest(self._by_name[name], digest):
            return None
        return name

    def fingerprint(self, name: str) -> str | None:
        """A short fingerprint of the approver's current token hash, or None if unknown.

        Sessions carry it, so replacing or removing a token ends that person's sessions.
        """
        digest = self._by_name.get(name)
        return None if digest is None else hash_token("session:" + digest)[:16]


@dataclass
class Session:
    """A browser's session: its id (from the signed cookie) and, once signed in, who (from the database)."""

    sid: str
    """Random session id; CSRF tokens are bound to it."""
    approver: str | None = None
    """Who signed in, or None for a visitor who has not."""
    fingerprint: str | None = None
    """The approver's token fingerprint at sign-in (see `Authenticator.fingerprint`)."""
    expires_at: float = 0.0
    """Unix time after which the cookie is refused."""
    flash: dict[str, str] | None = None
    """A one-time message for the next page: `{"text": ..., "kind": "ok" | "info" | "error", "href": ...}`."""
    signed_in: bool = field(default=False, compare=False)
    """True when the database holds this session (it was signed in and not signed out)."""
    dirty: bool = field(default=False, compare=False)
    """True when the cookie or the stored flash must be written back."""

    def pop_flash(self) -> dict[str, str] | None:
        """Return the one-time message and forget it."""
        message, self.flash = self.flash, None
        if message is not None:
            self.dirty = True
        return message


class SessionCodec:
    """Signs and reads session cookies (a session id and its expiry) and derives CSRF tokens.

    Args:
        secret: The signing key.
        ttl_s: Seconds a session lives after sign-in.
        clock: Returns Unix time.
    """

    def __init__(
        self, secret: bytes, *, ttl_s: float = 12 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secret
        self.ttl_s = ttl_s
        self._clock = clock

    def _mac(self, domain: str, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{domain}:{payload}".encode(), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        """The cookie value: base64url JSON `{"s": sid, "e": expiry}`, a dot, base64url HMAC."""
        data: dict[str, Any] = {"s": session.sid, "e": round(session.expires_at)}
        payload = _b64(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._mac('session', payload)}"

    def loads(self, value: str | None) -> tuple[str, float] | None:
        """The (session id, expiry) in a cookie value, or None if it is missing, forged or expired."""
        if not value or value.count(".") != 1 or not value.isascii():
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(self._mac("session", payload), signature):
            return None
        try:
            data = json.loads(_unb64(payload))
        except (binascii.Error, ValueError):
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("s"), str)
            or not isinstance(data.get("e"), int)
            or data["e"] <= self._clock()
        ):
            return None
        return data["s"], float(data["e"])

    def csrf_token(self, session: Session) -> str:
        """The CSRF token for forms rendered in `session`."""
        return self._mac("csrf", session.sid)

    def check_csrf(self, session: Session, token: str | None) -> bool:
        """True when `token` is the CSRF token of `session`."""
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))
