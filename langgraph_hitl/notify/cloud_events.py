"""CloudEvents 1.0 envelopes for webhook deliveries (layouts `cloudevents` and `cloudevents-binary`).

Each delivery is one CloudEvent whose `data` is the `json` layout's envelope, unchanged:

| attribute         | value                                                                  |
|-------------------|------------------------------------------------------------------------|
| `specversion`     | `1.0`                                                                  |
| `id`              | the delivery id (`delivery_id` in the data; the same on every retry)   |
| `source`          | the notifier's `cloudevents_source` (default `urn:langgraph-hitl`)     |
| `type`            | `io.github.langgraph-hitl.request.<event>`: `pending`, `decided`, `timed_out`, `executed` |
| `subject`         | the review request's id                                                |
| `time`            | when the event happened (RFC 3339, UTC)                                |
| `datacontenttype` | `application/json`                                                     |
| `hitlthread`      | the thread's id (an extension attribute; absent without a thread)      |

The type prefix is the reverse DNS name of the project's home, `langgraph-hitl.github.io`, so it
cannot collide with another producer's types. Structured mode posts the whole event as
`application/cloudevents+json`; binary mode posts the data alone and the attributes as `ce-*`
headers, percent-encoded as the HTTP binding requires (so no thread id can break a header line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

__all__ = ["DEFAULT_SOURCE", "TYPE_PREFIX", "cloudevent_framer", "event_type"]

TYPE_PREFIX = "io.github.langgraph-hitl.request."
"""Every event type begins so; the webhook event's name follows."""

DEFAULT_SOURCE = "urn:langgraph-hitl"
"""The `source` attribute unless the notifier is given its own (a URI-reference naming the producer)."""

STRUCTURED_TYPE = "application/cloudevents+json"
"""The media type of a structured-mode body."""

# The HTTP binding (3.1.3.2) keeps printable ASCII but space, '"' and '%'; everything else is
# percent-encoded as UTF-8, CR and LF included.
_HEADER_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in ' "%')

Frame = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
"""`envelope -> (document to serialize as the body, headers)`."""


def event_type(event: str) -> str:
    """The CloudEvents `type` of a webhook event.

    Example:
        >>> event_type("pending")
        'io.github.langgraph-hitl.request.pending'
    """
    return TYPE_PREFIX + event


def _attributes(envelope: dict[str, Any], source: str) -> dict[str, str]:
    attributes = {
        "specversion": "1.0",
        "id": str(envelope["delivery_id"]),
        "source": source,
        "type": event_type(str(envelope["event"])),
        "time": str(envelope["ts"]),
        "datacontenttype": "application/json",
    }
    request = envelope.get("request") or {}  # `pending` carries the whole request, the others its id
    request_id = request.get("request_id") or (request.get("hitl") or {}).get("request_id")
    if request_id:
        attributes["subject"] = str(request_id)
    if envelope.get("thread_id") is not None:
        attributes["hitlthread"] = str(envelope["thread_id"])
    return attributes


def header_value(value: str) -> str:
    """`value` percent-encoded for a `ce-*` header (lone surrogates, which UTF-8 cannot carry,
    as `\\udXXX` text first).

    Example:
        >>> header_value('a b"%\\r\\nX: é')
        'a%20b%22%25%0D%0AX:%20%C3%A9'
    """
    return quote(value.encode("utf-8", "backslashreplace"), safe=_HEADER_SAFE)


def cloudevent_framer(*, binary: bool, source: str) -> Frame:
    """What turns each envelope into a CloudEvent: structured (the whole event is the body) or
    binary (the envelope is the body, the attributes are `ce-*` headers)."""

    def structured(envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return {**_attributes(envelope, source), "data": envelope}, {"Content-Type": STRUCTURED_TYPE}

    def binary_mode(envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        attributes = _attributes(envelope, source)
        headers = {"Content-Type": attributes.pop("datacontenttype")}
        headers.update({f"ce-{name}": header_value(value) for name, value in attributes.items()})
        return envelope, headers

    return binary_mode if binary else structured
