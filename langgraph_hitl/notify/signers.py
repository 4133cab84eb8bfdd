"""The signature headers of each delivery attempt, for the notifier's `signing` and secret(s).

The secret may be one secret or several, newest first: while a secret rotates, every delivery is
signed with each, so receivers verify whichever one they hold (`X-HITL-Signature` carries one
`v1=` per secret; `webhook-signature` one `v1,<base64>` per secret).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from .base import NotifierConfigError, Signing
from .signing import SIGNATURE_HEADER, sign
from .standard_webhooks import standard_headers, standard_key

__all__ = ["SignHeaders", "make_signer"]

SignHeaders = Callable[[str, int, bytes], dict[str, str]]
"""`(delivery_id, timestamp, body) -> headers` for one attempt."""


def _secrets(secret: object) -> list[object]:
    """The secrets, newest first: one, or a list or tuple of several."""
    if isinstance(secret, list | tuple):
        if not secret:
            msg = "WebhookNotifier: secret is an empty list; pass the shared secret, or several (newest first) while one rotates."
            raise NotifierConfigError(msg)
        return list(secret)
    return [secret]


def make_signer(signing: object, secret: object) -> SignHeaders:
    """Check `signing` and the secret(s), and return what signs each attempt.

    Raises:
        NotifierConfigError: `signing` is unknown, or a secret is empty or, for `standard`, not a
            valid `whsec_` secret (the message names which one and why, never its value).
    """
    if signing not in get_args(Signing):
        msg = f"WebhookNotifier: signing={signing!r:.40} is not allowed. Allowed: {', '.join(get_args(Signing))}."
        raise NotifierConfigError(msg)
    secrets = _secrets(secret)
    labels = ["secret"] if len(secrets) == 1 else [f"secret #{i}" for i in range(1, len(secrets) + 1)]
    if signing == "standard":
        try:
            keys = [standard_key(s, label=label) for s, label in zip(secrets, labels, strict=True)]
        except ValueError as exc:
            msg = f"WebhookNotifier: {exc}"
            raise NotifierConfigError(msg) from None

        def standard(delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
            return standard_headers(keys, delivery_id=delivery_id, timestamp=timestamp, body=body)

        return standard
    for one, label in zip(secrets, labels, strict=True):
        if not isinstance(one, str | bytes) or not one:
            problem = (
                "is empty"
                if isinstance(one, str | bytes)
                else f"is a {type(one).__name__}, not text or bytes"
            )
            msg = f"WebhookNotifier: {label} {problem}; pass the shared secret the receiver verifies with (a long random string)."
            raise NotifierConfigError(msg)
    texts: list[str | bytes] = [s for s in secrets if isinstance(s, str | bytes)]

    def hitl(delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        first, *older = (sign(body, secret=s, timestamp=timestamp) for s in texts)
        return {SIGNATURE_HEADER: ",".join([first, *(h.partition(",")[2] for h in older)])}

    return hitl
