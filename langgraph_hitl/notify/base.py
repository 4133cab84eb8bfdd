"""The notifier interface and its vocabulary: events, layouts, counters, option errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import HITLError
from ..protocols import Notifier

__all__ = ["DeliveryStats", "Layout", "Notifier", "NotifierConfigError", "Signing", "WebhookEvent"]

Layout = Literal["json", "slack", "cloudevents", "cloudevents-binary"]
"""How a delivery's body looks.

- `json`: the envelope `{"event", "ts", "delivery_id", "thread_id", "request", ...}`, for your own receiver.
- `slack`: a Slack message (`text` and `blocks`) for a Slack incoming-webhook URL.
- `cloudevents`: a CloudEvents 1.0 event in structured content mode (`application/cloudevents+json`):
  the attributes and, as `data`, the `json` envelope, in one signed body.
- `cloudevents-binary`: a CloudEvents 1.0 event in binary content mode: the `json` envelope is the
  body, the attributes are `ce-*` headers (which no signature covers; the envelope repeats them).
"""

Signing = Literal["hitl", "standard"]
"""How each delivery is signed.

- `hitl`: `X-HITL-Signature: t=<unix>,v1=<hex>`, checked with `verify_signature` (the default).
- `standard`: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`)
  with `whsec_` secrets, checked by any Standard Webhooks library.
"""

WebhookEvent = Literal["pending", "decided", "timed_out", "executed"]
"""What happened: a request awaits review, someone decided it, its deadline passed, or the
action it approved was run (`outcome`: `executed` or `failed`)."""


class NotifierConfigError(HITLError, ValueError):
    """A notifier option is invalid (raised when the notifier is built, never during a run)."""


@dataclass(frozen=True)
class DeliveryStats:
    """Counters of a `WebhookNotifier` since it was built."""

    enqueued: int = 0
    """Events accepted for delivery."""
    delivered: int = 0
    """Events the receiver acknowledged with a 2xx."""
    failed: int = 0
    """Events given up on: a final 4xx/3xx, `max_attempts` exhausted, unserializable, or shut down mid-retry."""
    dropped: int = 0
    """Events refused because the queue was full or the notifier was closed."""
    attempts: int = 0
    """HTTP requests made, first tries and retries."""
    retries: int = 0
    """Attempts after the first, across all events."""
    last_error: str | None = None
    """Why the most recent failed attempt failed."""
