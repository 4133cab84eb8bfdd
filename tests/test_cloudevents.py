"""CloudEvents 1.0 layouts of `WebhookNotifier`, parsed by the `cloudevents` SDK itself."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_http as v1_from_http
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from langgraph_hitl.notify import NotifierConfigError, WebhookNotifier, verify_signature
from langgraph_hitl.notify.cloud_events import cloudevent_framer
from langgraph_hitl.notify.webhook_delivery import dumps

from loopback_receiver import Received, Receiver, serving

SECRET = "test-secret-0123456789"
PREFIX = "io.github.langgraph-hitl.request."


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


def request(request_id: str = "req-1") -> Any:
    """A minimal review request for `send_email`."""
    return {
        "action_requests": [{"name": "send_email", "args": {"to": "a@b.test"}}],
        "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve", "reject"]}],
        "hitl": {"request_id": request_id, "risk": "high", "approvers": None, "exclude_approvers": []},
    }


def every_event(hook: WebhookNotifier, *, thread_id: str | None = "t-1", request_id: str = "req-1") -> None:
    """One event of each kind, in order: pending, decided, timed_out, executed."""
    hook.on_pending(request(request_id), thread_id=thread_id)
    hook.on_decision(request_id, {"type": "approve", "approver": "alice"}, thread_id=thread_id)
    hook.on_timeout(request_id, thread_id=thread_id, outcome="reject")
    hook.on_executed(request_id, thread_id=thread_id, action="send_email", outcome="executed")
    assert hook.flush(10)


def parse(got: Received) -> Any:
    """The CloudEvent the SDK reads from a delivery (mode detected from the headers)."""
    return from_http(HTTPMessage(headers=dict(got.headers), body=got.body), JSONFormat())


@pytest.mark.parametrize("layout", ["cloudevents", "cloudevents-binary"])
def test_cloudevents_every_event_parses_with_the_sdk(receiver: Receiver, layout: Any) -> None:
    """Each event is a valid CloudEvent: our type, source, id = delivery id, subject = request, data = the envelope."""
    with WebhookNotifier(receiver.url, secret=SECRET, layout=layout) as hook:
        every_event(hook)
    events = [parse(r) for r in receiver.requests]
    assert [e.get_type() for e in events] == [
        PREFIX + n for n in ("pending", "decided", "timed_out", "executed")
    ]
    for event, got in zip(events, receiver.requests, strict=True):
        data = event.get_data()
        assert event.get_specversion() == "1.0" and event.get_source() == "urn:langgraph-hitl"
        assert event.get_id() == data["delivery_id"] and event.get_subject() == "req-1"
        assert event.get_extension("hitlthread") == "t-1" == data["thread_id"]
        assert event.get_datacontenttype() == "application/json"
        assert isinstance(event.get_time(), datetime) and event.get_time().isoformat() == data["ts"]
        assert PREFIX + data["event"] == event.get_type()
        verify_signature(got.body, secret=SECRET, header=got.header("X-HITL-Signature"))
    assert events[3].get_data()["action"] == "send_email" and events[3].get_data()["outcome"] == "executed"


def test_cloudevents_structured_body_is_the_whole_event(receiver: Receiver) -> None:
    """Structured mode: `application/cloudevents+json`, attributes and data in the signed body, no `ce-` headers;
    the 1.x-style SDK API reads it too."""
    with WebhookNotifier(
        receiver.url, secret=SECRET, layout="cloudevents", cloudevents_source="urn:acme:agent"
    ) as hook:
        hook.on_timeout("req-7", thread_id=None, outcome="reject")
        assert hook.flush(10)
    got = receiver.requests[0]
    assert got.header("Content-Type") == "application/cloudevents+json"
    assert not [k for k in got.headers if k.lower().startswith("ce-")]
    body = got.json()
    assert (
        body["type"] == PREFIX + "timed_out"
        and body["source"] == "urn:acme:agent"
        and "hitlthread" not in body
    )
    event = v1_from_http(dict(got.headers), got.body)
    assert event["type"] == PREFIX + "timed_out" and event["subject"] == "req-7"
    assert event.data["outcome"] == "reject"


def test_cloudevents_binary_body_is_the_envelope(receiver: Receiver) -> None:
    """Binary mode: the body is exactly the `json` layout's envelope; the attributes are `ce-` headers."""
    with WebhookNotifier(receiver.url, secret=SECRET, layout="cloudevents-binary") as hook:
        hook.on_decision("req-1", {"type": "reject", "approver": "bob"}, thread_id="t-1")
        assert hook.flush(10)
    got = receiver.requests[0]
    assert got.header("Content-Type") == "application/json"
    assert got.header("ce-specversion") == "1.0" and got.header("ce-id") == got.json()["delivery_id"]
    assert set(got.json()) == {"event", "ts", "delivery_id", "thread_id", "request", "decision"}


def test_cloudevents_with_standard_signing_verify_both_ways(receiver: Receiver) -> None:
    """Structured CloudEvents signed as Standard Webhooks: the library verifies, the SDK parses the same bytes."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with WebhookNotifier(receiver.url, secret=secret, signing="standard", layout="cloudevents") as hook:
        hook.on_executed("req-1", thread_id="t", action="send_email", outcome="failed")
        assert hook.flush(10)
    got = receiver.requests[0]
    assert Webhook(secret).verify(got.body, got.headers)["type"] == PREFIX + "executed"
    event = parse(got)
    assert event.get_id() == got.header("webhook-id") and event.get_data()["outcome"] == "failed"


ODD = [
    "thread with spaces",
    'quote" and %25 and %',
    "crlf\r\nX-Injected: 1",
    "nul\x00tab\tdel\x7f",
    "ünïcödé ☃ 🦜 مرحبا",
    "slash/and?query=1&x#frag",
    "lone \ud800 surrogate",
]


@pytest.mark.parametrize("layout", ["cloudevents", "cloudevents-binary"])
def test_cloudevents_odd_ids_survive_the_round_trip(receiver: Receiver, layout: Any) -> None:
    """Thread and request ids with spaces, quotes, %, CR LF, NUL, non-ASCII or a lone surrogate reach the SDK
    intact (percent-encoded in `ce-` headers, so none can add a header), a lone surrogate as `\\udXXX` text in a
    header."""
    with WebhookNotifier(receiver.url, secret=SECRET, layout=layout) as hook:
        for odd in ODD:
            hook.on_timeout(odd, thread_id=odd, outcome="reject")
        assert hook.flush(10)
    assert len(receiver.requests) == len(ODD)
    for odd, got in zip(ODD, receiver.requests, strict=True):
        assert got.header("X-Injected") is None
        event = parse(got)
        expected = odd if layout == "cloudevents" else odd.replace("\ud800", "\\ud800")
        assert event.get_subject() == expected and event.get_extension("hitlthread") == expected
        assert event.get_data()["thread_id"] == odd  # the signed data keeps the id exactly


_IDS = st.lists(st.integers(1, 0x10FFFF), min_size=1, max_size=40).map(lambda cps: "".join(map(chr, cps)))


@settings(max_examples=200, deadline=None)
@given(_IDS, _IDS, st.booleans())
def test_cloudevents_any_id_parses(thread_id: str, request_id: str, binary: bool) -> None:
    """For any ids, both modes give a CloudEvent the SDK accepts, with the ids back (surrogates aside)."""
    envelope = {
        "event": "decided",
        "ts": "2026-12-01T03:00:00.000000+00:00",
        "delivery_id": "d" * 32,
        "thread_id": thread_id,
        "request": {"request_id": request_id},
    }
    document, headers = cloudevent_framer(binary=binary, source="urn:langgraph-hitl")(envelope)
    assert all(v.isascii() and v.isprintable() for v in headers.values())
    event = from_http(HTTPMessage(headers=headers, body=dumps(document)), JSONFormat())
    same = (lambda s: s) if not binary else (lambda s: s.encode("utf-8", "backslashreplace").decode())
    assert event.get_subject() == same(request_id) and event.get_extension("hitlthread") == same(thread_id)
    assert event.get_data()["thread_id"] == thread_id


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cloudevents_source": ""}, "cloudevents_source='' must be a non-empty URI-reference"),
        ({"cloudevents_source": 7}, "cloudevents_source=7 must be"),
        ({"layout": "cloudevent"}, "layout='cloudevent' is not allowed. Allowed: json, slack, cloudevents, "),
    ],
)
def test_cloudevents_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    """A bad source or a misspelt layout fails at construction, naming the value."""
    with pytest.raises(NotifierConfigError, match=message):
        WebhookNotifier("https://hooks.test/hitl", secret=SECRET, **options)


def test_cloudevents_layout_can_change_after_construction(receiver: Receiver) -> None:
    """`notifier.layout` is read per event: switching to CloudEvents frames the next delivery so."""
    with WebhookNotifier(receiver.url, secret=SECRET) as hook:
        hook.on_timeout("req-1", thread_id="t", outcome="reject")
        assert hook.flush(10)
        hook.layout = "cloudevents"
        hook.on_timeout("req-1", thread_id="t", outcome="reject")
        assert hook.flush(10)
    first, second = (json.loads(r.body) for r in receiver.requests)
    assert "specversion" not in first and second["specversion"] == "1.0"
