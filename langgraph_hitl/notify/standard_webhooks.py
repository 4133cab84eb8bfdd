"""Standard Webhooks signatures (https://www.standardwebhooks.com): the `standard` signing of `WebhookNotifier`.

A delivery carries three headers:

```
webhook-id:        <the delivery id, the same on every retry: the receiver's idempotency key>
webhook-timestamp: <unix seconds of this attempt>
webhook-signature: v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}." + body> [v1,<...> ...]
```

keyed with the bytes a `whsec_<base64>` secret encodes. While a secret rotates, the notifier is
given the new and the old ones and signs with each (space-separated signatures), so receivers
still on the old secret and those already on the new one both verify. Any Standard Webhooks
library verifies these deliveries (`standardwebhooks.Webhook(secret).verify(body, headers)`);
it also refuses timestamps more than five minutes away, so a captured delivery cannot be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

__all__ = ["MIN_KEY_BYTES", "SECRET_PREFIX", "standard_headers", "standard_key"]

SECRET_PREFIX = "whsec_"
"""How a Standard Webhooks secret begins; the base64 of the key follows."""

MIN_KEY_BYTES = 24
"""The shortest key the specification allows (it asks for 24 to 64 random bytes)."""

_MAKE = "make one with: 'whsec_' + base64.b64encode(secrets.token_bytes(32)).decode()"


def standard_key(secret: object, *, label: str = "secret") -> bytes:
    """The key a `whsec_<base64>` secret encodes.

    Args:
        secret: The secret, as the receiver's Standard Webhooks library is given it.
        label: How error messages name it (`secret`, `secret #2`).

    Returns:
        The decoded key bytes.

    Raises:
        ValueError: The secret is not text, lacks the `whsec_` prefix, is not base64, or encodes
            fewer than 24 bytes. The message says which, and never contains the secret.

    Example:
        >>> len(standard_key("whsec_" + "A" * 32))
        24
    """
    if not isinstance(secret, str):
        msg = (
            f"{label} is a {type(secret).__name__}, not a Standard Webhooks secret: pass the text "
            f"'whsec_<base64 of the key>' the receiver verifies with ({_MAKE})."
        )
        raise ValueError(msg)
    if not secret.startswith(SECRET_PREFIX):
        msg = (
            f"{label} does not start with 'whsec_' (the value, {len(secret)} characters, is not shown): "
            f"a Standard Webhooks secret is 'whsec_' + the base64 of the key; {_MAKE}."
        )
        raise ValueError(msg)
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # Unpadded base64 is common in the wild (the reference libraries accept it): pad it, then
        # decode strictly, so a typo is an error rather than silently dropped characters.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        bad = sorted({c for c in encoded if not (c.isascii() and (c.isalnum() or c in "+/="))})
        what = (
            f"characters outside base64 ({len(bad)} kind(s))" if bad else "misplaced padding or a bad length"
        )
        msg = (
            f"{label}: the part after 'whsec_' is not valid base64 ({what}; the value is not shown). "
            f"Copy the secret again exactly; {_MAKE}."
        )
        raise ValueError(msg) from None
    if len(key) < MIN_KEY_BYTES:
        msg = (
            f"{label} encodes a {len(key)}-byte key; Standard Webhooks keys are {MIN_KEY_BYTES} to 64 random "
            f"bytes. Use a longer secret; {_MAKE}."
        )
        raise ValueError(msg)
    return key


def standard_headers(
    keys: Sequence[bytes], *, delivery_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, with a signature per key (newest first).

    Example:
        >>> headers = standard_headers([b"k" * 24], delivery_id="d1", timestamp=1700000000, body=b"{}")
        >>> sorted(headers), headers["webhook-signature"][:3]
        (['webhook-id', 'webhook-signature', 'webhook-timestamp'], 'v1,')
    """
    signed = f"{delivery_id}.{int(timestamp)}.".encode() + body
    signatures = (
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signatures),
    }
