"""Stripe-style HMAC-SHA256 signatures for webhook bodies.

A delivery carries `X-HITL-Signature: t=<unix>,v1=<hex>`, where `<hex>` is the
HMAC-SHA256, keyed with the shared secret, of `f"{t}.".encode() + body`. The
receiver recomputes it over the raw body bytes (before parsing JSON), compares in
constant time and refuses timestamps outside a tolerance window, so a captured
delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ..errors import HITLError

__all__ = ["SIGNATURE_HEADER", "SignatureError", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-HITL-Signature"
"""The HTTP header that carries a webhook delivery's signature."""

_FORMAT = "'t=<unix seconds>,v1=<hex hmac-sha256>'"


class SignatureError(HITLError, ValueError):
    """A webhook signature is missing, malformed, expired or does not match the body."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        msg = (
            "The webhook secret is empty; pass the shared secret both sides agreed on (a long random string)."
        )
        raise SignatureError(msg)
    return key


def _digest(key: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: str | bytes, timestamp: int) -> str:
    """Compute the `X-HITL-Signature` header value for a body.

    Args:
        body: The exact bytes that will be sent as the request body.
        secret: The shared secret (text is UTF-8 encoded).
        timestamp: Unix seconds of the delivery attempt.

    Returns:
        The header value, `t=<timestamp>,v1=<hex digest>`.

    Raises:
        SignatureError: If `secret` is empty.

    Example:
        >>> sign(b'{"event":"pending"}', secret="s3cret", timestamp=1700000000)[:13]
        't=1700000000,'
    """
    return f"t={int(timestamp)},v1={_digest(_key(secret), body, int(timestamp))}"


def verify_signature(
    body: bytes,
    *,
    secret: str | bytes,
    header: str | None,
    now: float | None = None,
    tolerance_s: float = 300,
) -> None:
    """Check a delivery's `X-HITL-Signature` header against its raw body.

    Several `v1=` entries are accepted (any one matching is enough), so a sender may
    sign with an old and a new secret while the secret rotates.

    Args:
        body: The raw request body, exactly as received.
        secret: The shared secret.
        header: The `X-HITL-Signature` header value (None or empty if it was absent).
        now: Unix seconds to check the timestamp against; defaults to `time.time()`.
        tolerance_s: How far the signed timestamp may be from `now`, either way.

    Raises:
        SignatureError: If the header is missing or malformed, its timestamp is outside
            the tolerance, or no signature matches the body.

    Example:
        >>> header = sign(b"{}", secret="s3cret", timestamp=1700000000)
        >>> verify_signature(b"{}", secret="s3cret", header=header, now=1700000010)
    """
    key = _key(secret)
    if not header or not header.strip():
        msg = f"The {SIGNATURE_HEADER} header is missing or empty; expected {_FORMAT}. Refuse the delivery."
        raise SignatureError(msg)
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            msg = f"The {SIGNATURE_HEADER} header {header!r:.120} is malformed: {part!r:.40} is not key=value; expected {_FORMAT}."
            raise SignatureError(msg)
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        msg = f"The {SIGNATURE_HEADER} header {header!r:.120} is malformed: it needs exactly one t=<unix seconds>; expected {_FORMAT}."
        raise SignatureError(msg)
    if not signatures:
        msg = f"The {SIGNATURE_HEADER} header {header!r:.120} is malformed: it has no v1=<hex> signature; expected {_FORMAT}."
        raise SignatureError(msg)
    timestamp = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        msg = (
            f"The {SIGNATURE_HEADER} timestamp {timestamp} is {abs(current - timestamp):.0f} s from now, outside the "
            f"{tolerance_s:g} s tolerance: a replayed delivery or a skewed clock. Refuse it (and check NTP if it recurs)."
        )
        raise SignatureError(msg)
    expected = _digest(key, body, timestamp)
    # Compare every candidate so the time taken does not depend on which one matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.strip().lower().encode("utf-8"))
    if not matched:
        msg = (
            f"The {SIGNATURE_HEADER} signature does not match the body: the secret differs or the body was altered. "
            "Verify the raw bytes before parsing JSON, with the secret the sender uses."
        )
        raise SignatureError(msg)
