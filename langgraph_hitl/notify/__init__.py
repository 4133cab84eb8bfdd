"""Notifications: signed webhooks about review requests, and one-time approval links.

Install the extra: `pip install 'langgraph-hitl[notify]'` (httpx is imported only
when a `WebhookNotifier` is built, never by `import langgraph_hitl`).

- `WebhookNotifier` posts `pending`, `decided`, `timed_out` and `executed` events as JSON,
  Slack messages or CloudEvents 1.0 (`layout`), signed with `X-HITL-Signature:
  t=<unix>,v1=<hex>` or as Standard Webhooks (`signing="standard"`, `whsec_` secrets), on a
  background thread with retries; it never blocks or breaks a graph run.
- `sign` / `verify_signature` make and check that header (HMAC-SHA256 over
  `f"{t}.".encode() + body`, constant-time, with a replay window).
- `LinkSigner` makes approval links bound to one request, approver and decision, that
  expire and, redeemed through a `NonceStore`, work once.

Errors, all `HITLError` and `ValueError`:

```
HITLError
 ├── SignatureError      (ValueError)  a webhook signature is missing, malformed, expired or wrong
 ├── LinkError           (ValueError)  an approval link is malformed, tampered, expired, used, or for something else
 └── NotifierConfigError (ValueError)  a WebhookNotifier option is invalid
```

Example:
    >>> signer, store = LinkSigner("s3cret", ttl_s=900), MemoryNonceStore()
    >>> url = signer.make_url("https://hitl.example.com/links", "req-1", "alice", "approve")
    >>> token = url.split("token=")[1]
    >>> signer.redeem(token, store=store, request_id="req-1").approver
    'alice'
"""

from __future__ import annotations

from .base import DeliveryStats, Layout, Notifier, NotifierConfigError, Signing, WebhookEvent
from .links import (
    LinkClaim,
    LinkDecision,
    LinkError,
    LinkSigner,
    MemoryNonceStore,
    NonceStore,
    SQLiteNonceStore,
)
from .signing import SIGNATURE_HEADER, SignatureError, sign, verify_signature
from .slack import slack_decided_message, slack_review_message, slack_timed_out_message
from .webhook import WebhookNotifier

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryStats",
    "Layout",
    "LinkClaim",
    "LinkDecision",
    "LinkError",
    "LinkSigner",
    "MemoryNonceStore",
    "NonceStore",
    "Notifier",
    "NotifierConfigError",
    "SQLiteNonceStore",
    "SignatureError",
    "Signing",
    "WebhookEvent",
    "WebhookNotifier",
    "sign",
    "slack_decided_message",
    "slack_review_message",
    "slack_timed_out_message",
    "verify_signature",
]
